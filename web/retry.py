"""Retry transient fetch failures with exponential backoff and jitter, inside the caller's deadline.

`RetryingFetcher` wraps any `Fetcher`. `Retrier` runs one operation under the
same policy for a client that is not a fetcher (the Web Scraper API client).
stamina runs the attempts. The backoff hook here picks each wait: the
server's Retry-After when it sent one, else exponential backoff with jitter.
It gives up early when that wait would end past the deadline of the
enclosing anyio cancel scope.

A failure is transient when its `FetchError.retryable` is True: timeouts,
broken or refused connections, 429 and 500/502/503/504 responses, and Bright
Data's retryable unlock errors. Every other error, including error classes
that do not set the attribute, fails at once.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import stamina

from product_extractor.web.fetcher import Fetcher, FetchError, Page

__all__ = ["Retrier", "RetryPolicy", "RetryingFetcher", "is_transient"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# More attempts than this make no sense for one page and would overflow the exponential wait.
MAX_ATTEMPTS = 100


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a transient failure gets, and how long to wait between them (seconds)."""

    attempts: int = 3  # in all, the first included; 1 turns retries off
    wait_initial_s: float = 0.5  # the wait before the first retry; each later one doubles
    wait_max_s: float = 10.0  # cap on one exponential wait, jitter included
    # A random share of up to this many seconds is added to each wait, so that requests
    # that failed together do not all retry at the same moment.
    wait_jitter_s: float = 0.5
    # The longest Retry-After honoured. A server asking for more ends the retries,
    # because a URL's deadline is usually shorter.
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValueError(f"attempts={self.attempts} is invalid; use 1 (no retries) to {MAX_ATTEMPTS}")
        for name in ("wait_initial_s", "wait_max_s", "wait_jitter_s", "max_retry_after_s"):
            value = getattr(self, name)
            if not value >= 0 or math.isinf(value):
                raise ValueError(f"{name}={value} is invalid; use a finite number of seconds, 0 or more")

    def backoff_s(self, retry: int) -> float:
        """Return the wait before retry number `retry` (1 for the first), as stamina computes it.

        The wait is `wait_initial_s * 2 ** (retry - 1)` plus a random jitter of up to
        `wait_jitter_s`, capped at `wait_max_s`.
        """
        jitter = random.uniform(0, self.wait_jitter_s) if self.wait_jitter_s else 0.0
        return min(self.wait_max_s, self.wait_initial_s * 2.0 ** (retry - 1) + jitter)

    def retry_after_wait_s(self, retry_after_s: float) -> float:
        """Return the wait for a server's Retry-After: never shorter than asked, plus jitter."""
        jitter = random.uniform(0, self.wait_jitter_s) if self.wait_jitter_s else 0.0
        return retry_after_s + jitter


def is_transient(error: FetchError) -> bool:
    """Return True when `error` is worth another attempt of the same request."""
    return error.retryable


class Retrier:
    """Runs one operation under a `RetryPolicy` and keeps count of its retries and failed attempts.

    Make one per operation (one URL's fetch): retries of different URLs share no
    state and no lock, so one URL's waits never hold up another. `time_left`
    returns the seconds the caller has left, for a deadline that is not an anyio
    cancel scope. The nearer of that and the cancel scope's deadline counts.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        url: str,
        *,
        should_retry: Callable[[FetchError], bool] = is_transient,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self.policy = policy
        self.url = url
        self.should_retry = should_retry
        self.time_left = time_left
        self.retries = 0
        # What the failed attempts that were retried cost; the last failure carries its own.
        self.failed_requests = 0
        self.failed_billed_requests = 0
        self._failures = 0
        self._gave_up: str | None = None  # why the last failure was not retried, for its message

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Return what `operation` returns, calling it again after each transient `FetchError`.

        The error of the last attempt propagates with `retries` set and, when a retry
        was ruled out, the reason appended to its message.
        """
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff, attempts=self.policy.attempts, timeout=None
            ):
                with attempt:
                    return await operation()
        except FetchError as error:
            self._annotate(error)
            raise
        raise AssertionError("stamina ended the attempts without a result or an error")

    def _backoff(self, error: Exception) -> bool | float:
        """Return the seconds to wait before the next attempt, or False to raise `error` now.

        stamina calls this after every failed attempt, cancellations included.
        """
        if not isinstance(error, FetchError) or not self.should_retry(error):
            return False
        self._failures += 1
        if self._failures >= self.policy.attempts:
            if self.policy.attempts > 1:
                self._gave_up = f"gave up after {self._failures} attempts"
            return False

        wait = self._wait_before_retry(error)
        if wait is None:
            return False
        left = self._time_left()
        if wait >= left:
            self._gave_up = (
                f"not retried because the deadline is {max(left, 0.0):.1f} s away and the next attempt "
                f"would start in {wait:.1f} s"
            )
            return False

        self.retries += 1
        self.failed_requests += error.requests
        self.failed_billed_requests += error.billed_requests
        logger.info(
            "retrying %s in %.2f s (retry %d of %d) after: %s",
            self.url,
            wait,
            self.retries,
            self.policy.attempts - 1,
            error,
        )
        return wait

    def _wait_before_retry(self, error: FetchError) -> float | None:
        """Return the wait before the next retry, or None when the server asked for too long a wait."""
        if error.retry_after_s is None:
            return self.policy.backoff_s(self.retries + 1)
        if error.retry_after_s > self.policy.max_retry_after_s:
            self._gave_up = (
                f"not retried because the server asked to wait {error.retry_after_s:g} s "
                f"(Retry-After), more than the {self.policy.max_retry_after_s:g} s this server waits at most"
            )
            return None
        return self.policy.retry_after_wait_s(error.retry_after_s)

    def _time_left(self) -> float:
        left = anyio.current_effective_deadline() - anyio.current_time()
        if self.time_left is not None:
            left = min(left, self.time_left())
        return left

    def _annotate(self, error: FetchError) -> None:
        error.retries = self.retries
        if self._gave_up is not None:
            error.args = (f"{error}; {self._gave_up}",)
        elif self.retries:
            noun = "retry" if self.retries == 1 else "retries"
            error.args = (f"{error} (after {self.retries} {noun})",)


class RetryingFetcher:
    """A `Fetcher` that retries the transient failures of `inner` under `policy`.

    A page that came back after retries has `retries` set, and its `requests`
    and `billed_requests` include the failed attempts'. A final error carries
    the same totals, so a retried request that a paid backend billed is still
    counted.

    NOTE: when the URL's deadline cancels an attempt after earlier ones failed,
    those earlier attempts' requests are missing from the URL's figures (no
    error is raised to carry them). A Bright Data call's cost meter still counts
    what was billed.
    """

    def __init__(self, inner: Fetcher, policy: RetryPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.backend_name = inner.backend_name

    def __repr__(self) -> str:
        return f"RetryingFetcher({self.inner!r}, attempts={self.policy.attempts})"

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def fetch(self, url: str) -> Page:
        retrier = Retrier(self.policy, url)
        try:
            page = await retrier.run(functools.partial(self.inner.fetch, url))
        except FetchError as error:
            error.requests += retrier.failed_requests
            error.billed_requests += retrier.failed_billed_requests
            raise

        if not retrier.retries:
            return page
        return dataclasses.replace(
            page,
            requests=page.requests + retrier.failed_requests,
            billed_requests=page.billed_requests + retrier.failed_billed_requests,
            retries=retrier.retries,
        )

"""Injected latency, unlock errors and timeouts of Web Unlocker requests, and the rate limit.

Defaults apply to every target. Overrides apply to a target host
(`www.ikea.com`) or URL prefix (`https://www.ikea.com/gb/en/p/`), the longest
match winning. Every random draw comes from a generator seeded by `seed`, one
per kind of draw, so the same requests in the same order get the same fate.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from product_extractor.sandbox.faults import BurstCounter, LognormalLatency, PrefixRules, check_rate

# x-brd-error messages of the unlock errors the stand-in can inject. The
# navigation_timeout and http_status texts follow responses observed from the
# real API; the others are written for the sandbox.
UNLOCK_ERROR_MESSAGES = {
    "reject_block": "Request was blocked by the target site",
    "navigation_timeout": "Navigation timeout @ {url}",
    "http_status": "response status was rejected: {status} status code",
    "expect_element": 'waiting for selector "body" failed: timeout 90000ms exceeded',
    "domcontentloaded_event_timeout": "DOMContentLoaded event timeout @ {url}",
    "document_load_failed": "Document failed to load @ {url}",
    "resolve_failed_dns": "Could not resolve host of {url}",
}


@dataclass(frozen=True, slots=True)
class UnlockerFault:
    """An override for the requests to one target host or URL prefix; None keeps the default."""

    latency: LognormalLatency | None = None
    unlock_error: str | None = None  # respond 502 with this x-brd-error-code, after the latency
    status: int | None = None  # respond with this outer status, as an error of the unlocker itself
    target_status: int | None = None  # the target responds with this; 5xx becomes a 502 http_status
    timeout: bool = False  # hold the request for `timeout_seconds`, then respond 502 navigation_timeout
    retry_after: str | None = None  # Retry-After header sent with `status`: seconds or an HTTP date
    # Only the first `burst` requests to the target get this fault, and later ones get
    # the defaults. None means every request.
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.unlock_error is not None:
            _check_unlock_error(self.unlock_error)
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst={self.burst} is invalid; use 1 or more, or None for every request")


@dataclass(frozen=True, slots=True)
class UnlockerDecision:
    """The fate of one request: wait `delay` seconds, then fail as the fields set, or serve the target."""

    delay: float
    timeout: bool = False
    unlock_error: str | None = None
    status: int | None = None
    target_status: int | None = None
    retry_after: str | None = None  # the Retry-After header to send with `status`


class UnlockerFaultPlan:
    """Decides the delay and failure of each Web Unlocker request; safe to change from another thread."""

    def __init__(
        self,
        *,
        latency: LognormalLatency | None = None,
        seed: int = 1,
        unlock_failure_rate: float = 0.0,
        unlock_error_code: str = "reject_block",
        server_error_rate: float = 0.0,
        server_error_status: int = 500,
        timeout_rate: float = 0.0,
    ) -> None:
        check_rate(unlock_failure_rate, "unlock failure rate")
        check_rate(server_error_rate, "server error rate")
        check_rate(timeout_rate, "timeout rate")
        _check_unlock_error(unlock_error_code)
        self.latency = latency or LognormalLatency(0.0)
        self.unlock_failure_rate = unlock_failure_rate
        self.unlock_error_code = unlock_error_code
        self.server_error_rate = server_error_rate
        self.server_error_status = server_error_status
        self.timeout_rate = timeout_rate
        self._latency_random = random.Random(f"unlocker-latency:{seed}")
        self._failure_random = random.Random(f"unlocker-failures:{seed}")
        self._overrides: PrefixRules[UnlockerFault] = PrefixRules()
        self._lock = threading.Lock()
        self._bursts = BurstCounter()

    def set_fault(self, target: str, fault: UnlockerFault) -> None:
        """Override the defaults for `target`, a host or an http(s) URL prefix, starting a new burst."""
        key = target_key(target)
        self._overrides.set(key, fault)
        self._bursts.reset(key)

    def clear_faults(self, target: str | None = None) -> None:
        """Remove the override for `target`, or every override when `target` is None."""
        key = None if target is None else target_key(target)
        self._overrides.clear(key)
        self._bursts.reset(key)

    def decide(self, url: str) -> UnlockerDecision:
        key, fault = self._overrides.match_with_prefix(target_key(url)) or ("", UnlockerFault())
        if not self._bursts.take(key, fault.burst):
            fault = UnlockerFault()  # the burst is over
        with self._lock:
            delay = (fault.latency or self.latency).draw(self._latency_random)

            # One draw per rate, always in this order, keeps the sequence
            # repeatable whichever rates are set.
            timed_out = self._failure_random.random() < self.timeout_rate
            server_error = self._failure_random.random() < self.server_error_rate
            unlock_failed = self._failure_random.random() < self.unlock_failure_rate

        if fault.timeout or timed_out:
            return UnlockerDecision(delay, timeout=True)
        if fault.status is not None:
            return UnlockerDecision(delay, status=fault.status, retry_after=fault.retry_after)
        if server_error:
            return UnlockerDecision(delay, status=self.server_error_status)
        if fault.unlock_error is not None:
            return UnlockerDecision(delay, unlock_error=fault.unlock_error)
        if unlock_failed:
            return UnlockerDecision(delay, unlock_error=self.unlock_error_code)
        return UnlockerDecision(delay, target_status=fault.target_status)


def _check_unlock_error(code: str) -> None:
    if code not in UNLOCK_ERROR_MESSAGES:
        known = ", ".join(UNLOCK_ERROR_MESSAGES)
        raise ValueError(f"unlock error {code!r} is unknown; use one of {known}")


def target_key(target: str) -> str:
    """Return the matching key of a target: `host/path?query`, host lowercased, scheme and fragment dropped.

    A bare host becomes `host/`, so `www.ikea.com` does not match `www.ikea.com.example`.

    >>> target_key("HTTPS://WWW.IKEA.com/gb/en/p/x/?a=1#top")
    'www.ikea.com/gb/en/p/x/?a=1'
    >>> target_key("www.ikea.com")
    'www.ikea.com/'
    """
    if "://" not in target:
        return target.strip("/").lower() + "/"
    parts = urlsplit(target)
    query = f"?{parts.query}" if parts.query else ""
    return f"{(parts.hostname or '').lower()}{parts.path or '/'}{query}"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` in any sliding window of `period` seconds."""

    requests: int
    period: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.period <= 0:
            raise ValueError(f"rate limit {self.requests}/{self.period}s is invalid; both must be above 0")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse `N/<period><unit>` with unit ms, s, m or h, as Bright Data's MCP server writes limits.

        >>> RateLimit.parse("50/1s")
        RateLimit(requests=50, period=1.0)
        >>> RateLimit.parse("100/h")
        RateLimit(requests=100, period=3600.0)
        """
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*\.?\d*)\s*(ms|s|m|h)\s*", text)
        if match is None:
            raise ValueError(
                f"rate limit {text!r} is invalid; write requests per period, such as 50/1s or 100/1h"
            )
        count, amount, unit = match.groups()
        seconds_per_unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        return cls(int(count), float(amount or 1) * seconds_per_unit)


class SlidingWindow:
    """Admits requests under a `RateLimit`; thread-safe."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """Admit one request now and return None, or return the seconds until one would be admitted."""
        now = time.monotonic()
        with self._lock:
            while self._admitted and self._admitted[0] <= now - self.limit.period:
                self._admitted.popleft()
            if len(self._admitted) < self.limit.requests:
                self._admitted.append(now)
                return None
            return self._admitted[0] + self.limit.period - now


def retry_after_header(seconds: float) -> str:
    """Return a Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))

"""Retries of direct fetches against the sandbox shop and small servers on 127.0.0.1."""

from __future__ import annotations

import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from mcp import Client

from product_extractor.brightdata.errors import (
    ApiTimeout,
    ApiUnreachable,
    CostCapReached,
    RateLimited,
    ServerError,
    TokenRejected,
    UnlockFailed,
    UsageLimitReached,
    ZoneNotFound,
)
from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.app import create_server
from product_extractor.web.direct import DirectFetcher, FetchLimits
from product_extractor.web.fetcher import (
    BudgetExceeded,
    ConnectFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    NotHTML,
    Page,
    TooLarge,
    TooManyRedirects,
)
from product_extractor.web.retry import Retrier, RetryingFetcher, RetryPolicy, is_transient
from product_extractor.web.robots import RobotsOptions
from tests.conftest import sandbox_policy, sandbox_settings

pytestmark = pytest.mark.anyio

ORCHARD = "https://www.sample-books.example/book/the-quiet-orchard"
ORCHARD_PATH = "/www.sample-books.example/book/the-quiet-orchard"
URL = "https://shop.example/p/1"

# Waits short enough for tests; a Retry-After is still honoured as sent.
# These tests count every request a server receives, so no robots.txt request may add to them.
NO_ROBOTS = RobotsOptions(enabled=False)
FAST = RetryPolicy(attempts=3, wait_initial_s=0.01, wait_max_s=0.05, wait_jitter_s=0.01)


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR) as running:
        yield running


@pytest.fixture
def clean_shop(shop: RunningShop) -> Iterator[RunningShop]:
    shop.clear_faults()
    shop.clear_log()
    yield shop
    shop.clear_faults()


@pytest.fixture
def since(clean_shop: RunningShop) -> float:
    """The test's start on the shop's clock.

    Requests of earlier tests that the client gave up on while the shop held them
    are logged when the shop responds, which can be during this test.
    """
    return time.monotonic()


async def fetch(url: str, policy: RetryPolicy = FAST, limits: FetchLimits | None = None) -> Page | FetchError:
    """Fetch `url` directly through a `RetryingFetcher`; return the page or the final error."""
    fetcher = RetryingFetcher(DirectFetcher(limits, policy=sandbox_policy(), robots=NO_ROBOTS), policy)
    try:
        return await fetcher.fetch(url)
    except FetchError as error:
        return error
    finally:
        await fetcher.aclose()


def requests_to(shop: RunningShop, path: str, *, since: float, at_least: int) -> int:
    """Return how many requests for `path` started after `since`, once the shop logged `at_least`.

    It waits 5 s at most.

    The shop logs a request just before the last body chunk goes out, and the
    fetcher raises on an error status as soon as the headers arrive, so the log
    can trail the client by a moment.
    """
    deadline = time.monotonic() + 5.0
    while True:
        count = sum(
            1 for record in shop.request_log() if record.path == path and record.start_monotonic >= since
        )
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.01)


def retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """Return the waits, in seconds, that the retry log lines announced."""
    return [
        float(record.args[1])  # type: ignore[index]
        for record in caplog.records
        if record.name == "product_extractor.web.retry" and record.msg.startswith("retrying")
    ]


# Which failures are retried


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (FetchTimeout(URL, "timed out"), True),
        (ConnectFailed(URL, "server disconnected without sending a response"), True),
        (HTTPStatusError(URL, 429, "too many requests"), True),
        (HTTPStatusError(URL, 500, "internal server error"), True),
        (HTTPStatusError(URL, 502, "bad gateway"), True),
        (HTTPStatusError(URL, 503, "unavailable"), True),
        (HTTPStatusError(URL, 504, "gateway timeout"), True),
        (HTTPStatusError(URL, 400, "bad request"), False),
        (HTTPStatusError(URL, 401, "unauthorized"), False),
        (HTTPStatusError(URL, 403, "forbidden"), False),
        (HTTPStatusError(URL, 404, "not found"), False),
        (HTTPStatusError(URL, 410, "gone"), False),
        (TooLarge(URL, "too large"), False),
        (NotHTML(URL, "not html"), False),
        (TooManyRedirects(URL, "redirect loop"), False),
        (BudgetExceeded(URL, "over budget"), False),
        (FetchError(URL, "invalid URL"), False),
        (RateLimited(URL, "429 sr_rate_limit", status=429, retryable=True), True),
        (ServerError(URL, "503", status=503, retryable=True), True),
        (UnlockFailed(URL, "502 reject_block", status=502, retryable=True), True),
        (UnlockFailed(URL, "502 resolve_failed_dns", status=502), False),
        (ApiTimeout(URL, "timed out", retryable=True), True),
        (ApiUnreachable(URL, "unreachable", retryable=True), True),
        (TokenRejected(URL, "401", status=401), False),
        (ZoneNotFound(URL, "zone not found", status=400), False),
        (UsageLimitReached(URL, "client_10100", status=403), False),
        (CostCapReached(URL, "max_cost_usd"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transient_errors_table(error: FetchError, transient: bool) -> None:
    assert is_transient(error) is transient


class UrlRejected(FetchError):
    """An error class added elsewhere that does not set `retryable`."""


async def test_unmarked_error_class_not_retried() -> None:
    calls = 0

    async def reject() -> None:
        nonlocal calls
        calls += 1
        raise UrlRejected(URL, f"{URL} is not allowed")

    with pytest.raises(UrlRejected) as caught:
        await Retrier(FAST, URL).run(reject)

    assert calls == 1
    assert caught.value.retries == 0
    assert str(caught.value) == f"{URL} is not allowed"


# The policy


def test_backoff_doubles_up_to_cap() -> None:
    policy = RetryPolicy(wait_initial_s=0.5, wait_max_s=3.0, wait_jitter_s=0.0)
    assert [policy.backoff_s(retry) for retry in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(wait_initial_s=1.0, wait_max_s=100.0, wait_jitter_s=0.5)
    waits = [policy.backoff_s(1) for _ in range(200)]
    assert min(waits) >= 1.0
    assert max(waits) <= 1.5
    assert len(set(waits)) > 1


def test_retry_after_never_shortened() -> None:
    policy = RetryPolicy(wait_jitter_s=0.5)
    waits = [policy.retry_after_wait_s(2.0) for _ in range(50)]
    assert min(waits) >= 2.0
    assert max(waits) <= 2.5


@pytest.mark.parametrize(
    "values",
    [
        {"attempts": 0},
        {"attempts": 101},
        {"wait_initial_s": -1.0},
        {"wait_max_s": float("inf")},
        {"wait_jitter_s": float("nan")},
        {"max_retry_after_s": -0.5},
    ],
)
def test_invalid_policy_rejected(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid"):
        RetryPolicy(**values)


# Direct fetches against the sandbox shop


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_status_burst_then_page(clean_shop: RunningShop, since: float, status: int) -> None:
    clean_shop.set_fault(ORCHARD_PATH, status=status, burst=2)
    page = await fetch(clean_shop.url_for(ORCHARD))

    assert isinstance(page, Page), page
    assert page.status == 200
    assert page.retries == 2
    assert page.requests == 3
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=3) == 3


async def test_persistent_503_gives_up(clean_shop: RunningShop, since: float) -> None:
    clean_shop.set_fault(ORCHARD_PATH, status=503)
    error = await fetch(clean_shop.url_for(ORCHARD))

    assert isinstance(error, HTTPStatusError)
    assert error.status == 503
    assert error.retries == 2
    assert error.requests == 3
    assert str(error).endswith("; gave up after 3 attempts")
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=3) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
async def test_client_error_fails_at_once(clean_shop: RunningShop, since: float, status: int) -> None:
    clean_shop.set_fault(ORCHARD_PATH, status=status)
    error = await fetch(clean_shop.url_for(ORCHARD))

    assert isinstance(error, HTTPStatusError)
    assert error.status == status
    assert error.retries == 0
    assert error.requests == 1
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=1) == 1


async def test_one_attempt_turns_retries_off(clean_shop: RunningShop, since: float) -> None:
    clean_shop.set_fault(ORCHARD_PATH, status=503)
    error = await fetch(clean_shop.url_for(ORCHARD), RetryPolicy(attempts=1))

    assert isinstance(error, HTTPStatusError)
    assert error.retries == 0
    assert "gave up" not in str(error)
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=1) == 1


async def test_too_large_not_retried(clean_shop: RunningShop, since: float) -> None:
    error = await fetch(clean_shop.url_for(ORCHARD), limits=FetchLimits(max_bytes=1024))

    assert isinstance(error, TooLarge)
    assert error.retries == 0
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=1) == 1


async def test_read_timeouts_retried(clean_shop: RunningShop) -> None:
    clean_shop.set_fault(ORCHARD_PATH, latency=5.0)
    error = await fetch(clean_shop.url_for(ORCHARD), limits=FetchLimits(request_timeout_s=0.2))

    assert isinstance(error, FetchTimeout)
    assert error.retries == 2
    assert error.requests == 3
    assert "gave up after 3 attempts" in str(error)


async def test_retry_after_seconds_honoured(
    clean_shop: RunningShop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="product_extractor.web.retry")
    clean_shop.set_fault(ORCHARD_PATH, status=429, retry_after="1", burst=1)
    page = await fetch(clean_shop.url_for(ORCHARD))

    assert isinstance(page, Page), page
    assert page.retries == 1
    waits = retry_waits(caplog)
    assert len(waits) == 1
    assert waits[0] >= 1.0
    assert waits[0] <= 1.0 + FAST.wait_jitter_s


async def test_retry_after_date_honoured(clean_shop: RunningShop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="product_extractor.web.retry")
    moment = email.utils.formatdate(time.time() + 3, usegmt=True)
    clean_shop.set_fault(ORCHARD_PATH, status=503, retry_after=moment, burst=1)
    page = await fetch(clean_shop.url_for(ORCHARD))

    assert isinstance(page, Page), page
    assert page.retries == 1
    waits = retry_waits(caplog)
    assert len(waits) == 1
    # An HTTP date has whole seconds, so three seconds ahead is at least two seconds away
    # when it is sent. The margin of a second covers the request and a loaded machine.
    assert waits[0] > 1.0
    assert waits[0] <= 3.0 + FAST.wait_jitter_s


async def test_long_retry_after_not_waited(clean_shop: RunningShop, since: float) -> None:
    clean_shop.set_fault(ORCHARD_PATH, status=429, retry_after="120")
    policy = RetryPolicy(attempts=3, max_retry_after_s=30.0)
    error = await fetch(clean_shop.url_for(ORCHARD), policy)

    assert isinstance(error, HTTPStatusError)
    assert error.retries == 0
    assert "not retried because the server asked to wait 120 s (Retry-After)" in str(error)
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=1) == 1


async def test_wait_past_deadline_not_started(clean_shop: RunningShop, since: float) -> None:
    clean_shop.set_fault(ORCHARD_PATH, status=503, retry_after="30")
    with anyio.fail_after(5):
        error = await fetch(clean_shop.url_for(ORCHARD))

    assert isinstance(error, HTTPStatusError)
    assert error.retries == 0
    assert "not retried because the deadline is" in str(error)
    assert "the next attempt would start in 30" in str(error)
    assert requests_to(clean_shop, ORCHARD_PATH, since=since, at_least=1) == 1


async def test_deadline_cancels_attempt(clean_shop: RunningShop) -> None:
    clean_shop.set_fault(ORCHARD_PATH, latency=5.0)
    with anyio.move_on_after(0.3) as scope:
        await fetch(clean_shop.url_for(ORCHARD))

    assert scope.cancelled_caught


async def test_refused_connection_retried() -> None:
    error = await fetch(f"http://127.0.0.1:{unused_port()}/p/1")

    assert isinstance(error, ConnectFailed)
    assert error.retries == 2
    assert error.requests == 3


# A kept-alive connection that the server closed


@asynccontextmanager
async def server_closing_second_request() -> AsyncIterator[str]:
    """Serve a small HTML page on 127.0.0.1 with keep-alive, but close the connection on request 2.

    The client receives no response to request 2 on its pooled connection, as
    when a server's idle timeout closes a connection the client is reusing.
    """
    served = 0
    body = b"<!doctype html><html><body><h1>Lamp</h1></body></html>"
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: keep-alive\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    async def handle(stream: SocketStream) -> None:
        nonlocal served
        async with stream:
            buffered = b""
            while True:
                try:
                    chunk = await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                buffered += chunk
                while b"\r\n\r\n" in buffered:
                    _head, _, buffered = buffered.partition(b"\r\n\r\n")
                    served += 1
                    if served == 2:
                        return  # closes the connection without a response
                    await stream.send(response)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.listeners[0].extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}/lamp"
        group.cancel_scope.cancel()


async def test_stale_keep_alive_retried() -> None:
    fetcher = RetryingFetcher(DirectFetcher(policy=sandbox_policy(), robots=NO_ROBOTS), FAST)
    try:
        async with server_closing_second_request() as url:
            first = await fetcher.fetch(url)
            second = await fetcher.fetch(url)
    finally:
        await fetcher.aclose()

    assert first.retries == 0
    assert second.retries == 1
    assert second.requests == 2
    assert "Lamp" in second.text


# Through the tool


async def test_retry_keeps_other_url_moving(clean_shop: RunningShop, since: float) -> None:
    index = clean_shop.index()
    books = next(site for site in index["sites"] if site["host"] == "www.sample-books.example")
    kitchen = next(site for site in index["sites"] if site["host"] == "www.sample-kitchen.example")
    slow_path = "/" + books["product_urls"][0].split("/", 3)[3]
    clean_shop.set_fault(slow_path, status=429, retry_after="2", burst=1)

    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool(
            "extract_products", {"urls": [books["product_urls"][0], kitchen["category_url"]]}
        )

    assert result.structured_content is not None
    entries = {entry["url"]: entry for entry in result.structured_content["url_results"]}
    assert entries[books["product_urls"][0]]["status"] == "ok"
    assert entries[books["product_urls"][0]]["retries"] == 1
    assert entries[kitchen["category_url"]]["status"] == "ok"
    assert entries[kitchen["category_url"]]["retries"] == 0
    assert result.structured_content["stats"]["retries"] == 1

    log = [record for record in clean_shop.request_log() if record.start_monotonic >= since]
    retried = [record for record in log if record.path == slow_path]
    others = [record for record in log if record.host == "www.sample-kitchen.example"]
    assert len(retried) == 2
    # Every request of the other URL ended while the retried one waited out its Retry-After.
    assert max(record.end_monotonic for record in others) < retried[1].start_monotonic


# Helpers


def unused_port() -> int:
    """Return a 127.0.0.1 port that was free a moment ago, so a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port

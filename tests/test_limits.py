"""Request limits: per host, in flight per process, and per period toward Bright Data.

The limits are checked by counting what the sandbox servers on 127.0.0.1 saw,
never by timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningBrightData, running_brightdata, running_shop
from product_extractor.server.app import create_server
from product_extractor.server.settings import Settings
from product_extractor.web.direct import DirectFetcher
from product_extractor.web.limits import PerHostLimitedFetcher, RateLimit, RequestGate, host_key
from tests.conftest import sandbox_policy, sandbox_settings
from tests.shop_helpers import max_in_flight, write_generated_shop

pytestmark = pytest.mark.anyio

TOKEN = "limits-token-7d2e91c4a0"
LAMPS = "www.lamps.example"
SAMPLE_PRODUCTS = [
    "https://www.sample-outdoor.example/products/ridgeline-2-tent",
    "https://www.sample-outdoor.example/products/summit-down-bag",
    "https://www.sample-books.example/book/the-quiet-orchard",
    "https://www.sample-books.example/book/a-field-guide-to-moss",
    "https://www.sample-kitchen.example/item/creme-brulee-torch",
    "https://www.sample-kitchen.example/item/chef-knife-8in",
]
AMAZON = "https://www.amazon.com/dp/B07FW264WL"


async def call(settings: Settings, arguments: dict[str, Any]) -> dict[str, Any]:
    async with Client(create_server(settings)) as client:
        result: CallToolResult = await client.call_tool("extract_products", arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


@pytest.fixture
def lamp_pages(tmp_path: Path) -> Path:
    return write_generated_shop(tmp_path / "lamps", LAMPS, products=12)


def product_requests(records: list[Any]) -> list[Any]:
    """Return the product page requests of a shop log: no category page, no robots.txt."""
    return [record for record in records if "_category" not in record.path and record.path != "/robots.txt"]


# Parsing a rate limit


@pytest.mark.parametrize(
    ("text", "requests", "period_s"),
    [
        ("100/1m", 100, 60.0),
        ("10/s", 10, 1.0),
        ("5/30s", 5, 30.0),
        ("2/1h", 2, 3600.0),
        (" 7 / 2m ", 7, 120.0),
        ("3/0.5s", 3, 0.5),
    ],
)
def test_rate_limit_parsed(text: str, requests: int, period_s: float) -> None:
    assert RateLimit.parse(text) == RateLimit(requests, period_s)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "write requests per period"),
        ("100", "write requests per period"),
        ("100/1d", "with the unit s, m or h"),
        ("100/1ms", "with the unit s, m or h"),
        ("-1/1m", "write requests per period"),
        ("ten/1m", "write requests per period"),
        ("0/1m", "must be above 0"),
        ("100/0s", "must be above 0"),
    ],
)
def test_invalid_rate_limit_rejected(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="rate limit") as caught:
        RateLimit.parse(text)
    assert repr(text) in str(caught.value)
    assert reason in str(caught.value)


async def test_limiter_admits_burst_then_blocks() -> None:
    limiter = RateLimit.parse("3/1h").limiter()
    for _ in range(3):
        with anyio.fail_after(1):
            await limiter.acquire()
    assert not limiter.has_capacity()


# Per-host limit


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Shop.example/p/1", "https://shop.example:443"),
        ("https://shop.example:443/p/2", "https://shop.example:443"),
        ("http://shop.example/p/1", "http://shop.example:80"),
        ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8081/a", "http://127.0.0.1:8081"),
        ("http://shop.example:port/a", "http://shop.example:port"),
    ],
)
def test_host_key_by_scheme_host_port(url: str, key: str) -> None:
    assert host_key(url) == key


@pytest.mark.parametrize("max_per_host", [1, 3])
async def test_per_host_limit_bounds_requests(lamp_pages: Path, max_per_host: int) -> None:
    with running_shop(lamp_pages, latency=0.1) as shop:
        result = await call(sandbox_settings(max_per_host=max_per_host), {"urls": [shop.category_url(LAMPS)]})
        log = shop.request_log()

    assert result["url_results"][0]["products_found"] == 12
    assert max_in_flight(product_requests(log)) == max_per_host


async def test_default_per_host_limit_is_four(lamp_pages: Path) -> None:
    default = Settings.model_fields["max_per_host"].default
    with running_shop(lamp_pages, latency=0.1) as shop:
        await call(sandbox_settings(max_per_host=default), {"urls": [shop.category_url(LAMPS)]})
        log = shop.request_log()

    assert max_in_flight(product_requests(log)) == 4


async def test_hosts_limited_apart(lamp_pages: Path) -> None:
    settings = sandbox_settings(max_per_host=2)
    with running_shop(lamp_pages, latency=0.1) as first, running_shop(lamp_pages, latency=0.1) as second:
        result = await call(settings, {"urls": [first.category_url(LAMPS), second.category_url(LAMPS)]})
        first_log, second_log = first.request_log(), second.request_log()

    assert all(entry["products_found"] == 12 for entry in result["url_results"])
    assert max_in_flight(product_requests(first_log)) == 2
    assert max_in_flight(product_requests(second_log)) == 2
    # Both shops run in this process, so their logs share one clock.
    assert max_in_flight(product_requests(first_log + second_log)) == 4


async def test_host_entries_removed_when_idle() -> None:
    fetcher = PerHostLimitedFetcher(DirectFetcher(policy=sandbox_policy()), max_per_host=2)
    try:
        with running_shop(SAMPLE_SHOP_DIR, latency=0.05) as shop:
            async with anyio.create_task_group() as group:
                for url in SAMPLE_PRODUCTS:
                    group.start_soon(fetcher.fetch, shop.url_for(url))
                await anyio.wait_all_tasks_blocked()  # every fetch waits for a slot or a response
                in_use_at_start = fetcher.hosts_in_use()
            log = product_requests(shop.request_log())
    finally:
        await fetcher.aclose()

    # The sandbox shop serves every site under one host, so all six share one entry.
    assert in_use_at_start == 1
    assert len(log) == len(SAMPLE_PRODUCTS)
    assert max_in_flight(log) == 2
    assert fetcher.hosts_in_use() == 0


# The process-wide in-flight limit


async def test_in_flight_limit_spans_hosts(lamp_pages: Path) -> None:
    settings = sandbox_settings(max_in_flight=3, max_per_host=100)
    with running_shop(lamp_pages, latency=0.1) as first, running_shop(lamp_pages, latency=0.1) as second:
        result = await call(settings, {"urls": [first.category_url(LAMPS), second.category_url(LAMPS)]})
        log = first.request_log() + second.request_log()

    assert all(entry["products_found"] == 12 for entry in result["url_results"])
    assert max_in_flight(log) == 3


async def test_in_flight_limit_covers_brightdata(lamp_pages: Path) -> None:
    with running_brightdata(lamp_pages, token=TOKEN, latency=0.1) as brightdata:
        settings = sandbox_settings(
            brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, max_in_flight=2
        )
        result = await call(settings, {"urls": [f"https://{LAMPS}/_category"]})
        log = brightdata.request_log()

    assert result["url_results"][0]["products_found"] == 12
    assert max_in_flight(product_requests(log)) == 2


async def test_rate_wait_holds_no_slot() -> None:
    in_flight = anyio.CapacityLimiter(1)
    brightdata_gate = RequestGate(in_flight=in_flight, rate=RateLimit(1, 3600.0).limiter())
    direct_gate = RequestGate(in_flight=in_flight)
    async with brightdata_gate.admit():
        pass

    admitted = False
    async with anyio.create_task_group() as group:

        async def wait_for_rate() -> None:
            async with brightdata_gate.admit():
                pytest.fail("the rate limit admitted a second request within its hour")

        group.start_soon(wait_for_rate)
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(2):
            async with direct_gate.admit():
                admitted = True
        group.cancel_scope.cancel()

    assert admitted
    assert in_flight.borrowed_tokens == 0


# The rate limit toward Bright Data


@pytest.fixture
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN) as running:
        yield running


async def test_rate_limit_caps_unlocker_requests(brightdata: RunningBrightData) -> None:
    settings = sandbox_settings(
        brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, brightdata_rate_limit="3/1h"
    )
    result = await call(settings, {"urls": SAMPLE_PRODUCTS, "timeout_s": 1.5})
    sent = [record for record in brightdata.request_log() if record.path == "/request"]

    assert len(sent) == 3
    statuses = sorted(entry["status"] for entry in result["url_results"])
    assert statuses == ["failed", "failed", "failed", "ok", "ok", "ok"]
    for entry in result["url_results"]:
        if entry["status"] == "failed":
            assert "timed out after 1.5 s" in entry["error"]


async def test_rate_limit_shared_with_datasets(brightdata: RunningBrightData) -> None:
    settings = sandbox_settings(
        brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, brightdata_rate_limit="2/1h"
    )
    # The Amazon URL goes to the Web Scraper API; the category and its products to the unlocker.
    urls = [AMAZON, "https://www.sample-books.example/_category"]
    result = await call(settings, {"urls": urls, "timeout_s": 2})
    paths = [record.path.split("?")[0] for record in brightdata.request_log()]

    # Both clients want more than two requests, and which one takes the two tokens first
    # varies. Separate limiters would let through two requests each.
    assert len(paths) == 2
    assert all(entry["status"] != "ok" for entry in result["url_results"])

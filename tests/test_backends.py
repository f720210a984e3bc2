"""extract_products through Bright Data's backends, against the sandbox Bright Data on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

from product_extractor.sandbox import (
    SAMPLE_SHOP_DIR,
    RunningBrightData,
    RunningShop,
    running_brightdata,
    running_shop,
)
from product_extractor.server.app import create_server
from product_extractor.server.settings import Settings
from tests.conftest import sandbox_settings
from tests.shop_helpers import write_generated_shop

pytestmark = pytest.mark.anyio

TOKEN = "sandbox-token-5f0c2a9e"
SAMPLE_HOSTS = ("www.sample-outdoor.example", "www.sample-books.example", "www.sample-kitchen.example")


@pytest.fixture
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, latency=0.02, seed=5) as running:
        yield running


def settings_for(brightdata: RunningBrightData, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "brightdata_api_token": TOKEN,
        "brightdata_api_url": brightdata.base_url,
        **overrides,
    }
    return sandbox_settings(**values)


async def call(settings: Settings, arguments: dict[str, Any]) -> CallToolResult:
    async with Client(create_server(settings)) as client:
        return await client.call_tool("extract_products", arguments)


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, "".join(b.text for b in result.content if isinstance(b, TextContent))
    assert result.structured_content is not None
    return result.structured_content


def categories() -> list[str]:
    return [f"https://{host}/_category" for host in SAMPLE_HOSTS]


async def test_token_makes_brightdata_default(brightdata: RunningBrightData) -> None:
    result = structured(await call(settings_for(brightdata), {"urls": categories()[:1]}))
    assert result["stats"]["backend"] == "brightdata"
    entry = result["url_results"][0]
    assert entry["status"] == "ok", entry
    assert entry["backend"] == "brightdata-unlocker"


async def test_billing_matches_sandbox(brightdata: RunningBrightData) -> None:
    result = structured(await call(settings_for(brightdata), {"urls": categories()}))
    stats = result["stats"]
    assert stats["billed_requests"] == brightdata.billed_requests()
    assert stats["billed_requests"] == stats["requests"]
    assert stats["estimated_cost_usd"] == pytest.approx(stats["billed_requests"] * 1.50 / 1000)
    for entry in result["url_results"]:
        assert entry["billed_requests"] == entry["products_found"] + 1


async def test_sequential_and_parallel_bill_same(brightdata: RunningBrightData) -> None:
    settings = settings_for(brightdata)
    parallel = structured(await call(settings, {"urls": categories()}))
    billed_in_parallel = brightdata.billed_requests()

    brightdata.reset_billing()
    sequential_billed = 0
    for url in categories():
        # Without no_cache every page would come from the page cache and bill nothing.
        arguments = {"urls": [url], "no_cache": True}
        sequential_billed += structured(await call(settings, arguments))["stats"]["billed_requests"]

    assert brightdata.billed_requests() == billed_in_parallel
    assert sequential_billed == parallel["stats"]["billed_requests"]


async def test_cost_cap_cuts_url_short(brightdata: RunningBrightData) -> None:
    # Two requests at 1.50 USD per 1,000: the listing page and one product page.
    result = structured(
        await call(settings_for(brightdata), {"urls": categories()[:1], "max_cost_usd": 0.003})
    )
    entry = result["url_results"][0]
    assert entry["cut_short_by_cost"] is True
    assert entry["status"] == "partial"
    assert "max_cost_usd" in entry["error"]
    assert result["stats"]["cost_cap_reached"] is True
    assert result["stats"]["billed_requests"] == 2
    assert brightdata.billed_requests() == 2


async def test_zero_cost_cap_sends_nothing(brightdata: RunningBrightData) -> None:
    result = structured(await call(settings_for(brightdata), {"urls": categories(), "max_cost_usd": 0}))
    assert brightdata.billed_requests() == 0
    assert all(entry["status"] == "failed" for entry in result["url_results"])
    assert all(entry["cut_short_by_cost"] for entry in result["url_results"])


async def test_direct_backend_bills_nothing(brightdata: RunningBrightData) -> None:
    result = structured(
        await call(settings_for(brightdata), {"urls": ["http://127.0.0.1:9/closed"], "backend": "direct"})
    )
    assert result["stats"]["backend"] == "direct"
    assert result["stats"]["billed_requests"] == 0
    assert brightdata.billed_requests() == 0


async def test_brightdata_without_token_errors() -> None:
    result = await call(Settings(), {"urls": ["https://shop.example/"], "backend": "brightdata"})
    assert result.is_error
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert "BRIGHTDATA_API_TOKEN" in text


async def test_rejected_token_fails_each_url(brightdata: RunningBrightData) -> None:
    settings = settings_for(brightdata, brightdata_api_token="not-the-token")
    result = structured(await call(settings, {"urls": categories()[:2]}))
    for entry in result["url_results"]:
        assert entry["status"] == "failed"
        assert "BRIGHTDATA_API_TOKEN was rejected (401" in entry["error"]
        assert entry["backend"] == "brightdata-unlocker"
    assert result["stats"]["billed_requests"] == 0


async def test_unlock_failure_keeps_other_urls(brightdata: RunningBrightData) -> None:
    failing, *healthy = SAMPLE_HOSTS
    brightdata.set_fault(failing, unlock_error="reject_block")
    result = structured(await call(settings_for(brightdata), {"urls": categories()}))
    by_url = {entry["url"]: entry for entry in result["url_results"]}
    assert by_url[f"https://{failing}/_category"]["status"] == "failed"
    assert "reject_block" in by_url[f"https://{failing}/_category"]["error"]
    for host in healthy:
        assert by_url[f"https://{host}/_category"]["status"] == "ok"


async def test_token_never_leaves_server(
    brightdata: RunningBrightData, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = settings_for(brightdata)
    bad = settings_for(brightdata, brightdata_api_token=TOKEN + "-wrong")
    results = [
        await call(good, {"urls": categories()}),
        await call(bad, {"urls": categories()[:1], "no_cache": True}),
        await call(good, {"urls": ["https://www.sample-books.example/no-such-page"]}),
    ]
    outputs = [caplog.text]
    for result in results:
        outputs.append(result.model_dump_json())
    for output in outputs:
        assert TOKEN not in output


async def test_dataset_serves_covered_product(corpus_dir: Path) -> None:
    url = "https://www.amazon.com/dp/B07FW264WL"
    with running_brightdata(corpus_dir, token=TOKEN, sync_scrape_limit=5.0) as brightdata:
        result = structured(await call(settings_for(brightdata), {"urls": [url], "timeout_s": 200}))
        billed_records = brightdata.billed_records()
    entry = result["url_results"][0]
    assert entry["status"] == "ok", entry
    assert entry["backend"] == "brightdata-dataset"
    assert entry["billed_records"] == 1
    assert billed_records == 1
    product = result["products"][0]
    assert product["extracted_by"] == "brightdata-dataset"
    assert product["sku"] == "B07FW264WL"


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR, latency=0.01, seed=5) as running:
        yield running


def shop_site(shop: RunningShop, host: str) -> dict[str, Any]:
    return next(site for site in shop.index()["sites"] if site["host"] == host)


@pytest.mark.parametrize("blocking", [{"status": 403}, {"status": 429}, {"status": 503}])
async def test_auto_refetches_blocked_page(
    brightdata: RunningBrightData, shop: RunningShop, blocking: dict[str, int]
) -> None:
    site = shop_site(shop, SAMPLE_HOSTS[1])
    blocked_url = site["product_urls"][0]
    shop.set_fault("/" + blocked_url.split("/", 3)[3], **blocking)

    result = structured(
        await call(settings_for(brightdata), {"urls": [site["category_url"]], "backend": "auto"})
    )

    entry = result["url_results"][0]
    assert entry["status"] == "ok", entry
    assert entry["products_found"] == len(site["product_urls"])
    assert entry["fallbacks"] == 1
    assert entry["backend"] == "brightdata-unlocker+direct"
    assert entry["billed_requests"] == 1
    assert brightdata.billed_requests() == 1
    assert result["stats"]["backend"] == "auto"


async def test_auto_refetches_bot_wall_page(brightdata: RunningBrightData, tmp_path: Path) -> None:
    # The direct side serves a bot wall where the unlocker's side has the real product page.
    original = "https://www.sample-books.example/book/the-quiet-orchard"
    (tmp_path / "pages").mkdir()
    wall = "<html><body><h1>Please verify you are a human</h1><div class='captcha'></div></body></html>"
    (tmp_path / "pages" / "wall.html").write_text(wall, encoding="utf-8")
    index = {"id": "wall", "kind": "product", "url": original, "file": "pages/wall.html"}
    (tmp_path / "index.jsonl").write_text(json.dumps(index) + "\n", encoding="utf-8")

    with running_shop(tmp_path) as walled_shop:
        url = walled_shop.url_for(original)
        result = structured(await call(settings_for(brightdata), {"urls": [url], "backend": "auto"}))

    entry = result["url_results"][0]
    assert entry["status"] == "ok", entry
    assert entry["fallbacks"] == 1
    assert entry["billed_requests"] == 1
    assert result["products"][0]["name"] == "The Quiet Orchard"
    assert brightdata.billed_requests() == 1


async def test_auto_bills_nothing_unblocked(brightdata: RunningBrightData, shop: RunningShop) -> None:
    urls = [shop_site(shop, host)["category_url"] for host in SAMPLE_HOSTS]
    result = structured(await call(settings_for(brightdata), {"urls": urls, "backend": "auto"}))
    assert all(entry["status"] == "ok" for entry in result["url_results"])
    assert all(entry["backend"] == "direct" for entry in result["url_results"])
    assert result["stats"]["billed_requests"] == 0
    assert brightdata.billed_requests() == 0


async def test_token_absent_from_stdio_output(brightdata: RunningBrightData, tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.log"
    environment = {
        **os.environ,
        "BRIGHTDATA_API_TOKEN": TOKEN,
        "PRODUCT_EXTRACTOR_BRIGHTDATA_API_URL": brightdata.base_url,
        "PRODUCT_EXTRACTOR_LOG_LEVEL": "DEBUG",
    }
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "product_extractor.server", "serve"], env=environment
    )
    brightdata.set_fault(SAMPLE_HOSTS[0], unlock_error="reject_block")
    with stderr_path.open("w") as stderr:
        async with (
            stdio_client(parameters, errlog=stderr) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            results = [
                await session.call_tool("extract_products", {"urls": categories()}),
                await session.call_tool(
                    "extract_products", {"urls": ["https://www.sample-books.example/missing"]}
                ),
            ]

    assert all(not result.is_error for result in results)
    for result in results:
        assert TOKEN not in result.model_dump_json()
    server_log = stderr_path.read_text()
    assert "reject_block" in server_log
    assert TOKEN not in server_log


async def test_pending_snapshot_reported_by_id(corpus_dir: Path) -> None:
    url = "https://www.amazon.com/dp/B07FW264WL"
    with running_brightdata(corpus_dir, token=TOKEN, sync_scrape_limit=0.2) as brightdata:
        brightdata.set_snapshot_behaviour("never")
        reply = await call(settings_for(brightdata), {"urls": [url], "timeout_s": 4})
    entry = structured(reply)["url_results"][0]
    assert entry["status"] == "failed"
    assert entry["snapshot_id"].startswith(("sd_", "s_"))
    assert entry["snapshot_id"] in entry["error"]
    summary = "".join(block.text for block in reply.content if isinstance(block, TextContent))
    assert f"dataset snapshot {entry['snapshot_id']} still running" in summary


async def test_auto_refetches_blocked_listing(brightdata: RunningBrightData, shop: RunningShop) -> None:
    # The shop refuses every page of one site; each page is fetched once more through the unlocker.
    site = shop_site(shop, SAMPLE_HOSTS[0])
    shop.set_fault(site["host"], status=403)

    result = structured(
        await call(settings_for(brightdata), {"urls": [site["category_url"]], "backend": "auto"})
    )

    entry = result["url_results"][0]
    assert entry["status"] == "ok", entry
    assert entry["page_kind"] == "listing"
    assert entry["products_found"] == len(site["product_urls"])
    assert entry["fallbacks"] == len(site["product_urls"]) + 1
    assert entry["billed_requests"] == brightdata.billed_requests()
    assert [record["source_url"] for record in result["products"]] == site["product_urls"]


async def test_usage_limit_stops_call_requests(tmp_path: Path) -> None:
    host = "www.lamps.example"
    write_generated_shop(tmp_path, host, products=24)
    with running_brightdata(tmp_path, token=TOKEN, latency=0.05, quota=5) as brightdata:
        # A page cache lookup in a worker thread comes before each request, and on a busy machine
        # it can hold a request back until the quota error has arrived. no_cache sends them at once.
        arguments = {"urls": [f"https://{host}/_category"], "no_cache": True}
        result = structured(await call(settings_for(brightdata), arguments))
        sent = len([record for record in brightdata.request_log() if record.path.startswith("/request")])

    entry = result["url_results"][0]
    assert entry["status"] == "partial"
    assert entry["products_found"] == 4
    assert entry["billed_requests"] == 5
    # The listing and the first ten product pages were in flight; the other 14 were never sent.
    assert sent == 11
    assert entry["requests"] == 11

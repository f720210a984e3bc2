"""Bright Data faults injected by the sandbox Bright Data on 127.0.0.1, driven through the MCP tool.

For each fault: the job ends inside its deadline with every URL reported, the
other URLs keep their products, and the failing URL reports the right status
and reason. Billed requests in the result match what the sandbox billed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from product_extractor.brightdata.datasets import dataset_for
from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningBrightData, running_brightdata
from product_extractor.server.app import create_server
from product_extractor.server.settings import Settings

pytestmark = pytest.mark.anyio

TOKEN = "faults-token-3b8e6f0d21"
TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"
ORCHARD = "https://www.sample-books.example/book/the-quiet-orchard"
TORCH = "https://www.sample-kitchen.example/item/creme-brulee-torch"
PRODUCTS = [TENT, ORCHARD, TORCH]
MORE_PRODUCTS = [
    "https://www.sample-outdoor.example/products/summit-down-bag",
    "https://www.sample-books.example/book/a-field-guide-to-moss",
]
BOOKS_CATEGORY = "https://www.sample-books.example/_category"
AMAZON = "https://www.amazon.com/dp/B07FW264WL"
DEADLINE_S = 20.0  # each call's timeout_s: far above what the faults below need


@pytest.fixture
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, latency=0.02, seed=3) as running:
        yield running


def settings_for(brightdata: RunningBrightData, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "brightdata_api_token": TOKEN,
        "brightdata_api_url": brightdata.base_url,
        "backend": "brightdata",
        **overrides,
    }
    return Settings(**values)


async def extract(settings: Settings, urls: list[str], **arguments: Any) -> dict[str, Any]:
    arguments = {"urls": urls, "timeout_s": DEADLINE_S, **arguments}
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("extract_products", arguments)
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert not result.is_error, text
    assert result.structured_content is not None
    structured: dict[str, Any] = result.structured_content
    structured["summary"] = text
    return structured


def by_url(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["url"]: entry for entry in result["url_results"]}


def unlocker_log(brightdata: RunningBrightData) -> list[Any]:
    return [record for record in brightdata.request_log() if record.path == "/request"]


def assert_intact(result: dict[str, Any], urls: list[str]) -> None:
    """Check that each of `urls` is ok with its one product and no retries."""
    entries = by_url(result)
    for url in urls:
        entry = entries[url]
        assert entry["status"] == "ok", entry
        assert entry["products_found"] == 1
        assert entry["retries"] == 0
        assert entry["billed_requests"] == 1
    sources = {record["source_url"] for record in result["products"]}
    assert set(urls) <= sources


def assert_billing_exact(result: dict[str, Any], brightdata: RunningBrightData) -> None:
    stats = result["stats"]
    assert stats["billed_requests"] == brightdata.billed_requests()
    assert stats["billed_requests"] == sum(entry["billed_requests"] for entry in result["url_results"])
    assert stats["retries"] == sum(entry["retries"] for entry in result["url_results"])


# 429 storms


async def test_429_storm_retried_after_wait() -> None:
    urls = PRODUCTS + MORE_PRODUCTS
    # Two requests a second: three of the five URLs get 429 with Retry-After at first.
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, rate_limit="2/1s") as brightdata:
        result = await extract(settings_for(brightdata, retry_attempts=5), urls)
        log = unlocker_log(brightdata)

        assert_billing_exact(result, brightdata)

    for entry in result["url_results"]:
        assert entry["status"] == "ok", entry
        assert entry["billed_requests"] == 1
    limited = [record for record in log if record.status == 429]
    assert all(record.error_code == "sr_rate_limit" for record in limited)
    assert len(limited) >= 3
    assert result["stats"]["retries"] == len(limited)
    assert result["stats"]["requests"] == len(urls) + len(limited)
    assert result["stats"]["billed_requests"] == len(urls)
    assert f"{len(limited)} retries after timeouts, 429 or 5xx responses" in result["summary"]


async def test_429_burst_on_one_url(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, status=429, retry_after="1", burst=2)
    result = await extract(settings_for(brightdata), PRODUCTS)

    tent = by_url(result)[TENT]
    assert tent["status"] == "ok", tent
    assert tent["retries"] == 2
    assert tent["requests"] == 3
    assert tent["billed_requests"] == 1
    assert_intact(result, [ORCHARD, TORCH])
    assert_billing_exact(result, brightdata)


async def test_long_retry_after_fails_url(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, status=429, retry_after="600")
    result = await extract(settings_for(brightdata), PRODUCTS)

    tent = by_url(result)[TENT]
    assert tent["status"] == "failed"
    assert "rate-limited" in tent["error"]
    assert "asked to wait 600 s (Retry-After)" in tent["error"]
    assert tent["retries"] == 0
    assert_intact(result, [ORCHARD, TORCH])


# 5xx bursts and 502 unlock failures


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_server_error_burst_recovers(brightdata: RunningBrightData, status: int) -> None:
    brightdata.set_fault(ORCHARD, status=status, burst=2)
    result = await extract(settings_for(brightdata), PRODUCTS)

    orchard = by_url(result)[ORCHARD]
    assert orchard["status"] == "ok", orchard
    assert orchard["retries"] == 2
    assert orchard["billed_requests"] == 1
    assert_intact(result, [TENT, TORCH])
    assert_billing_exact(result, brightdata)


async def test_lasting_server_error_fails_url(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(ORCHARD, status=500)
    result = await extract(settings_for(brightdata), PRODUCTS)

    orchard = by_url(result)[ORCHARD]
    assert orchard["status"] == "failed"
    assert "Bright Data failed on the request" in orchard["error"]
    assert orchard["error"].endswith("gave up after 3 attempts")
    assert orchard["retries"] == 2
    assert orchard["requests"] == 3
    assert orchard["billed_requests"] == 0
    assert_intact(result, [TENT, TORCH])
    assert_billing_exact(result, brightdata)


async def test_backend_wide_server_errors() -> None:
    # One request in five fails with a 500, drawn per request, across the whole backend.
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, server_error_rate=0.2, seed=11) as brightdata:
        result = await extract(settings_for(brightdata, retry_attempts=8), [BOOKS_CATEGORY, *PRODUCTS])
        failed_requests = [record for record in unlocker_log(brightdata) if record.status == 500]

        assert_billing_exact(result, brightdata)

    assert all(entry["status"] == "ok" for entry in result["url_results"]), result["url_results"]
    assert result["stats"]["retries"] == len(failed_requests)
    assert result["stats"]["requests"] == result["stats"]["billed_requests"] + len(failed_requests)


async def test_unlock_failure_burst_recovers(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TORCH, unlock_error="reject_block", burst=1)
    result = await extract(settings_for(brightdata), PRODUCTS)

    torch = by_url(result)[TORCH]
    assert torch["status"] == "ok", torch
    assert torch["retries"] == 1
    assert torch["billed_requests"] == 1
    assert_intact(result, [TENT, ORCHARD])
    assert_billing_exact(result, brightdata)


async def test_lasting_unlock_failure_fails_url(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TORCH, unlock_error="reject_block")
    result = await extract(settings_for(brightdata), PRODUCTS)

    torch = by_url(result)[TORCH]
    assert torch["status"] == "failed"
    assert "could not unlock" in torch["error"]
    assert "502 reject_block" in torch["error"]
    assert torch["error"].endswith("gave up after 3 attempts")
    assert torch["retries"] == 2
    assert torch["billed_requests"] == 0
    assert_intact(result, [TENT, ORCHARD])


async def test_dns_failure_not_retried(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TORCH, unlock_error="resolve_failed_dns")
    result = await extract(settings_for(brightdata), PRODUCTS)

    torch = by_url(result)[TORCH]
    assert torch["status"] == "failed"
    assert "check the URL's host name" in torch["error"]
    assert torch["retries"] == 0
    assert len([record for record in unlocker_log(brightdata) if record.target_url == TORCH]) == 1
    assert_intact(result, [TENT, ORCHARD])


async def test_billed_target_429_counted(brightdata: RunningBrightData) -> None:
    # The shop responds 429 through the unlocker, and Bright Data bills that response too.
    brightdata.set_fault(TENT, target_status=429, burst=1)
    result = await extract(settings_for(brightdata), PRODUCTS)

    tent = by_url(result)[TENT]
    assert tent["status"] == "ok", tent
    assert tent["retries"] == 1
    assert tent["billed_requests"] == 2
    assert brightdata.billed_by_target()[TENT] == 2
    assert_intact(result, [ORCHARD, TORCH])
    assert_billing_exact(result, brightdata)


# Timeouts


async def test_api_timeouts_retried_then_reported(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(ORCHARD, timeout=True)
    settings = settings_for(brightdata, brightdata_request_timeout_s=0.3)
    result = await extract(settings, PRODUCTS)

    orchard = by_url(result)[ORCHARD]
    assert orchard["status"] == "failed"
    assert "timed out after 0.3 s waiting for the Bright Data Web Unlocker" in orchard["error"]
    assert orchard["error"].endswith("gave up after 3 attempts")
    assert f"timed out after {DEADLINE_S:g} s" not in orchard["error"]
    assert orchard["retries"] == 2
    assert orchard["billed_requests"] == 0
    assert_intact(result, [TENT, TORCH])


async def test_navigation_timeout_retried() -> None:
    # The unlocker's own timeout: held briefly, then 502 navigation_timeout.
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, timeout_seconds=0.1) as brightdata:
        brightdata.set_fault(ORCHARD, timeout=True, burst=1)
        result = await extract(settings_for(brightdata), PRODUCTS)

    orchard = by_url(result)[ORCHARD]
    assert orchard["status"] == "ok", orchard
    assert orchard["retries"] == 1
    assert_intact(result, [TENT, TORCH])


async def test_url_deadline_ends_slow_request(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(ORCHARD, timeout=True)
    result = await extract(settings_for(brightdata), PRODUCTS, timeout_s=3)

    orchard = by_url(result)[ORCHARD]
    assert orchard["status"] == "failed"
    assert "timed out after 3 s" in orchard["error"]
    assert orchard["retries"] == 0
    assert orchard["requests"] == 1
    assert_intact(result, [TENT, TORCH])


# Account errors: never retried, and the call stops sending after the first


async def test_rejected_token_not_retried(brightdata: RunningBrightData) -> None:
    result = await extract(settings_for(brightdata, brightdata_api_token="not-the-token"), PRODUCTS)

    for entry in result["url_results"]:
        assert entry["status"] == "failed"
        assert "BRIGHTDATA_API_TOKEN was rejected (401" in entry["error"]
        assert entry["retries"] == 0
    log = unlocker_log(brightdata)
    assert 1 <= len(log) <= len(PRODUCTS)
    assert {record.status for record in log} == {401}
    assert result["stats"]["billed_requests"] == 0


async def test_unknown_zone_not_retried(brightdata: RunningBrightData) -> None:
    result = await extract(settings_for(brightdata, brightdata_zone="no_such_zone"), PRODUCTS)

    for entry in result["url_results"]:
        assert entry["status"] == "failed"
        assert 'zone "no_such_zone" not found' in entry["error"]
        assert entry["retries"] == 0
    log = unlocker_log(brightdata)
    assert 1 <= len(log) <= len(PRODUCTS)
    assert {record.status for record in log} == {400}


async def test_used_up_quota_not_retried(brightdata: RunningBrightData) -> None:
    brightdata.set_quota(1)
    result = await extract(settings_for(brightdata), PRODUCTS)

    entries = result["url_results"]
    assert sorted(entry["status"] for entry in entries) == ["failed", "failed", "ok"]
    for entry in entries:
        assert entry["retries"] == 0
        if entry["status"] == "failed":
            assert "has reached its usage limit" in entry["error"]
            assert "client_10100" in entry["error"]
    # A request still waiting when the first 403 arrives is not sent at all, so whether
    # the third URL reaches the sandbox depends on timing.
    assert 2 <= len(unlocker_log(brightdata)) <= len(PRODUCTS)
    assert_billing_exact(result, brightdata)
    assert brightdata.billed_requests() == 1


# Web Scraper API collections (the saved corpus contains the dataset product pages)


def corpus_page_outside_datasets(brightdata: RunningBrightData) -> str:
    """Return a saved product page that no dataset covers, so the unlocker fetches it."""
    for page in brightdata.pages:
        if page.kind == "product" and "ikea.com" in page.url and dataset_for(page.url) is None:
            return page.url
    pytest.skip("the corpus has no IKEA product page")


@pytest.fixture
def corpus_brightdata(corpus_dir: Path) -> Iterator[RunningBrightData]:
    with running_brightdata(
        corpus_dir, token=TOKEN, sync_scrape_limit=5.0, snapshot_ready_after=0.1
    ) as running:
        yield running


@pytest.mark.parametrize("status", [429, 503])
async def test_collection_refusals_retried(corpus_brightdata: RunningBrightData, status: int) -> None:
    other = corpus_page_outside_datasets(corpus_brightdata)
    corpus_brightdata.fail_next_collections(status, count=2)
    result = await extract(settings_for(corpus_brightdata), [AMAZON, other])

    amazon = by_url(result)[AMAZON]
    assert amazon["status"] == "ok", amazon
    assert amazon["backend"] == "brightdata-dataset"
    assert amazon["retries"] == 2
    assert amazon["billed_records"] == 1
    assert by_url(result)[other]["status"] == "ok"
    refused = [record for record in corpus_brightdata.request_log() if record.status == status]
    assert len(refused) == 2


async def test_lasting_job_limit_fails_url(corpus_brightdata: RunningBrightData) -> None:
    other = corpus_page_outside_datasets(corpus_brightdata)
    corpus_brightdata.fail_next_collections(429, count=10)
    result = await extract(settings_for(corpus_brightdata), [AMAZON, other])

    amazon = by_url(result)[AMAZON]
    assert amazon["status"] == "failed"
    assert "rate-limited" in amazon["error"]
    assert "too many running jobs" in amazon["error"]
    assert "gave up after 3 attempts" in amazon["error"]
    assert amazon["retries"] == 2
    assert amazon["billed_records"] == 0
    assert by_url(result)[other]["status"] == "ok"


async def test_snapshot_never_ready_reported(corpus_dir: Path) -> None:
    with running_brightdata(corpus_dir, token=TOKEN, sync_scrape_limit=0.2) as brightdata:
        other = corpus_page_outside_datasets(brightdata)
        brightdata.set_snapshot_behaviour("never")
        result = await extract(settings_for(brightdata), [AMAZON, other], timeout_s=4)

    amazon = by_url(result)[AMAZON]
    assert amazon["status"] == "failed"
    assert amazon["snapshot_id"].startswith(("sd_", "s_"))
    assert amazon["snapshot_id"] in amazon["error"]
    assert "was still running at the deadline" in amazon["error"]
    assert "timed out after 4 s" not in amazon["error"]
    assert by_url(result)[other]["status"] == "ok"
    assert by_url(result)[other]["products_found"] == 1

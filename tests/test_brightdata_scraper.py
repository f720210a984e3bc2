"""The Web Scraper API client against the sandbox Bright Data server, over the saved real pages."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from product_extractor.brightdata.cost import CostCapReached, CostMeter
from product_extractor.brightdata.datasets import dataset_for
from product_extractor.brightdata.errors import (
    RecordError,
    SnapshotEmpty,
    SnapshotExpired,
    SnapshotFailed,
    SnapshotNotFound,
    SnapshotPending,
    TokenRejected,
)
from product_extractor.brightdata.scraper import ScraperConfig, ScrapeResult, WebScraperClient
from product_extractor.products.model import Product
from product_extractor.sandbox import RunningBrightData, running_brightdata

pytestmark = pytest.mark.corpus

TOKEN = "tok-4c8e2a61f09b7d35-scraper-test"
WRONG_TOKEN = "tok-9999wrong8888scraper"

AMAZON = "https://www.amazon.com/dp/B01GOH7PKA"
AMAZON_OUT_OF_STOCK = "https://www.amazon.com/dp/B07FW264WL"
AMAZON_MISSING = "https://www.amazon.com/dp/B000000000"
ZARA = "https://www.zara.com/be/en/flat-over-the-knee-boots-with-track-soles-p11002710.html?v1=84518927&v2=1591216"
BEST_BUY = "https://www.bestbuy.ca/en-ca/product/google-nest-hello-wi-fi-video-doorbell-black-white/12222651"
EBAY = "https://www.ebay.com/itm/302474151804"

# The sandbox returns 202 from /scrape after this many seconds; the client's
# sync_window_s must match it to choose /scrape over /trigger.
SYNC_WINDOW_S = 0.3
QUICK_JOB_S = 0.05  # snapshots that finish inside the synchronous window
SLOW_JOB_S = 0.8  # snapshots that outlast it


@pytest.fixture(scope="module")
def server(corpus_dir: Path) -> Iterator[RunningBrightData]:
    with running_brightdata(
        corpus_dir, token=TOKEN, sync_scrape_limit=SYNC_WINDOW_S, snapshot_ready_after=QUICK_JOB_S
    ) as running:
        yield running


@pytest.fixture
def brightdata(server: RunningBrightData) -> RunningBrightData:
    """The module's sandbox with quick, successful snapshots, an empty log and zero billing."""
    server.set_snapshot_behaviour("ready", ready_after=QUICK_JOB_S, progress_404_for=0.0)
    server.reset_billing()
    server.clear_log()
    return server


@pytest.fixture(scope="module")
def labels(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The expected values of every saved page, by URL."""
    found = {}
    with (corpus_dir / "index.jsonl").open(encoding="utf-8") as index:
        for line in index:
            entry = json.loads(line)
            found[entry["url"]] = entry.get("labels", {})
    return found


def client_for(
    brightdata: RunningBrightData, meter: CostMeter | None = None, **overrides: Any
) -> WebScraperClient:
    settings: dict[str, Any] = {
        "token": SecretStr(brightdata.token),
        "base_url": brightdata.base_url,
        "request_timeout_s": 5.0,
        "sync_window_s": SYNC_WINDOW_S,
        "poll_initial_s": 0.05,
        "poll_max_s": 0.2,
        "progress_not_found_grace_s": 2.0,
    }
    settings.update(overrides)
    return WebScraperClient(ScraperConfig(**settings), meter=meter)


async def scrape(
    brightdata: RunningBrightData,
    urls: list[str],
    *,
    timeout_s: float = 10.0,
    meter: CostMeter | None = None,
    **overrides: Any,
) -> ScrapeResult:
    client = client_for(brightdata, meter, **overrides)
    try:
        return await client.scrape(urls, timeout_s=timeout_s)
    finally:
        await client.aclose()


def paths(brightdata: RunningBrightData) -> list[str]:
    return [record.path.split("?")[0] for record in brightdata.request_log()]


def only_product(result: ScrapeResult, url: str) -> Product:
    outcome = result.outcomes[url]
    assert isinstance(outcome, list), outcome
    assert len(outcome) == 1
    return outcome[0]


@pytest.mark.anyio
async def test_sync_scrape_returns_product(brightdata: RunningBrightData, labels: dict[str, Any]) -> None:
    result = await scrape(brightdata, [AMAZON])
    product = only_product(result, AMAZON)
    expected = labels[AMAZON]

    assert product.name == expected["name"][0]
    assert product.brand == expected["brand"][0]
    assert product.sku == "B01GOH7PKA"
    assert product.price == Decimal(expected["price"][0])
    assert product.currency == "USD"
    assert product.availability == "InStock"
    assert product.rating == expected["rating"][0]
    assert product.review_count == expected["review_count"][0]
    assert product.images == expected["image"]
    assert product.source_url == AMAZON
    assert product.extracted_by == "brightdata-dataset"
    assert result.snapshot_id is None
    assert paths(brightdata) == ["/datasets/v3/scrape"]


@pytest.mark.anyio
async def test_sync_scrape_bills_records(brightdata: RunningBrightData) -> None:
    meter = CostMeter()
    result = await scrape(brightdata, [AMAZON, AMAZON_OUT_OF_STOCK], meter=meter)

    assert result.billed_records == 2
    assert meter.billed_records == 2
    assert brightdata.billed_records() == 2
    assert meter.estimated_cost_usd == pytest.approx(0.002)
    assert meter.reserved_cost_usd == 0


@pytest.mark.anyio
async def test_out_of_stock_record(brightdata: RunningBrightData) -> None:
    result = await scrape(brightdata, [AMAZON_OUT_OF_STOCK])
    assert only_product(result, AMAZON_OUT_OF_STOCK).availability == "OutOfStock"


@pytest.mark.anyio
@pytest.mark.parametrize("url", [ZARA, BEST_BUY, EBAY])
async def test_other_shops_datasets(brightdata: RunningBrightData, labels: dict[str, Any], url: str) -> None:
    dataset = dataset_for(url)
    assert dataset is not None

    result = await scrape(brightdata, [url])
    product = only_product(result, url)

    assert result.dataset == dataset
    assert product.name == labels[url]["name"][0]
    assert product.extracted_by == "brightdata-dataset"
    assert brightdata.request_log()[0].dataset_id == dataset.dataset_id


@pytest.mark.anyio
async def test_error_record_is_url_error(brightdata: RunningBrightData) -> None:
    meter = CostMeter()
    result = await scrape(brightdata, [AMAZON, AMAZON_MISSING], meter=meter)
    error = result.outcomes[AMAZON_MISSING]

    assert isinstance(result.outcomes[AMAZON], list)
    assert isinstance(error, RecordError)
    assert error.url == AMAZON_MISSING
    assert error.error_code == "dead_page"
    assert "dead_page" in str(error)
    assert AMAZON_MISSING in str(error)
    assert result.billed_records == 1
    assert meter.billed_records == brightdata.billed_records() == 1


@pytest.mark.anyio
async def test_slow_scrape_falls_back_to_snapshot(brightdata: RunningBrightData) -> None:
    brightdata.set_snapshot_behaviour("ready", ready_after=SLOW_JOB_S)
    meter = CostMeter()
    result = await scrape(brightdata, [AMAZON], meter=meter)

    assert result.snapshot_id is not None
    assert only_product(result, AMAZON).sku == "B01GOH7PKA"
    assert paths(brightdata)[0] == "/datasets/v3/scrape"
    assert f"/datasets/v3/progress/{result.snapshot_id}" in paths(brightdata)
    assert paths(brightdata)[-1] == f"/datasets/v3/snapshot/{result.snapshot_id}"
    assert meter.billed_records == brightdata.billed_records() == 1
    assert result.requests == len(brightdata.request_log())


@pytest.mark.anyio
async def test_short_deadline_triggers_snapshot(brightdata: RunningBrightData) -> None:
    result = await scrape(brightdata, [AMAZON], timeout_s=3.0)

    assert paths(brightdata)[0] == "/datasets/v3/trigger"
    assert result.snapshot_id is not None
    assert only_product(result, AMAZON).sku == "B01GOH7PKA"


@pytest.mark.anyio
async def test_progress_404_is_tolerated(brightdata: RunningBrightData) -> None:
    brightdata.set_snapshot_behaviour("ready", ready_after=SLOW_JOB_S, progress_404_for=SLOW_JOB_S / 2)
    result = await scrape(brightdata, [AMAZON])

    assert only_product(result, AMAZON).sku == "B01GOH7PKA"
    assert 404 in [record.status for record in brightdata.request_log()]


@pytest.mark.anyio
async def test_lasting_progress_404_is_not_found(brightdata: RunningBrightData) -> None:
    brightdata.set_snapshot_behaviour("ready", ready_after=5.0, progress_404_for=5.0)
    result = await scrape(brightdata, [AMAZON], progress_not_found_grace_s=0.2)
    error = result.outcomes[AMAZON]

    assert isinstance(error, SnapshotNotFound)
    assert error.snapshot_id == result.snapshot_id
    assert "does not exist (404)" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outcome", "error_type", "wording"),
    [
        ("failed", SnapshotFailed, "failed (Collection failed: the target pages could not be scraped)"),
        ("empty", SnapshotEmpty, "is empty (400)"),
        ("expired", SnapshotExpired, "is expired (400)"),
    ],
)
async def test_snapshot_failure_is_url_error(
    brightdata: RunningBrightData, outcome: str, error_type: type[Exception], wording: str
) -> None:
    brightdata.set_snapshot_behaviour(outcome, ready_after=SLOW_JOB_S)
    meter = CostMeter()
    result = await scrape(brightdata, [AMAZON, AMAZON_OUT_OF_STOCK], meter=meter)

    assert result.snapshot_id is not None
    for url in (AMAZON, AMAZON_OUT_OF_STOCK):
        error = result.outcomes[url]
        assert isinstance(error, error_type)
        assert error.url == url
        assert error.snapshot_id == result.snapshot_id
        assert f"Bright Data snapshot {result.snapshot_id} for {url} {wording}" in str(error)
    assert result.billed_records == 0
    assert meter.billed_records == 0
    assert meter.reserved_cost_usd == 0


@pytest.mark.anyio
async def test_running_snapshot_reports_its_id(brightdata: RunningBrightData) -> None:
    brightdata.set_snapshot_behaviour("never")
    meter = CostMeter()
    result = await scrape(brightdata, [AMAZON], timeout_s=1.0, meter=meter)
    error = result.outcomes[AMAZON]

    assert result.pending
    assert result.snapshot_id is not None
    assert isinstance(error, SnapshotPending)
    assert error.snapshot_id == result.snapshot_id
    assert error.retryable
    assert f"Bright Data snapshot {result.snapshot_id} for {AMAZON} was still running" in str(error)
    assert f"GET /datasets/v3/snapshot/{result.snapshot_id}" in str(error)
    assert meter.reserved_cost_usd == pytest.approx(0.001)


@pytest.mark.anyio
async def test_deadline_is_kept(brightdata: RunningBrightData) -> None:
    brightdata.set_snapshot_behaviour("never")
    log = brightdata.request_log

    result = await scrape(brightdata, [AMAZON], timeout_s=1.0)
    first, last = log()[0], log()[-1]

    assert result.pending
    assert last.end_monotonic - first.start_monotonic < 1.5


@pytest.mark.anyio
async def test_wrong_token_raises(brightdata: RunningBrightData, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TokenRejected) as caught:
        await scrape(brightdata, [AMAZON], token=SecretStr(WRONG_TOKEN))

    assert caught.value.status == 401
    assert "BRIGHTDATA_API_TOKEN was rejected (401 Invalid credentials)" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert WRONG_TOKEN not in text
        assert TOKEN not in text


@pytest.mark.anyio
async def test_record_cap_stops_second_scrape(brightdata: RunningBrightData) -> None:
    meter = CostMeter(max_cost_usd=0.001)  # one record at $1.00 per 1,000
    await scrape(brightdata, [AMAZON], meter=meter)

    with pytest.raises(CostCapReached) as caught:
        await scrape(brightdata, [AMAZON_OUT_OF_STOCK], meter=meter)

    assert str(caught.value).startswith(f"stopped before {AMAZON_OUT_OF_STOCK} because the next billed")
    assert "max_cost_usd=0.001 (spent 0.001)" in str(caught.value)
    assert brightdata.billed_records() == 1


@pytest.mark.anyio
async def test_batch_limits_are_checked(brightdata: RunningBrightData) -> None:
    too_many = [f"https://www.amazon.com/dp/B0000000{index:02d}" for index in range(21)]
    client = client_for(brightdata)
    try:
        with pytest.raises(ValueError, match="at most 20"):
            await client.scrape(too_many, timeout_s=5)
        with pytest.raises(ValueError, match="not a product URL of the amazon_product dataset"):
            await client.scrape([AMAZON, EBAY], timeout_s=5)
        with pytest.raises(ValueError, match="no Bright Data product dataset covers"):
            await client.scrape(["https://www.sample-outdoor.example/products/ridgeline-2-tent"], timeout_s=5)
    finally:
        await client.aclose()

    assert brightdata.request_log() == []


@pytest.mark.anyio
async def test_scrape_products_raises_url_error(brightdata: RunningBrightData) -> None:
    client = client_for(brightdata)
    try:
        products = await client.scrape_products(AMAZON, timeout_s=10)
        with pytest.raises(RecordError):
            await client.scrape_products(AMAZON_MISSING, timeout_s=10)
    finally:
        await client.aclose()

    assert [product.sku for product in products] == ["B01GOH7PKA"]

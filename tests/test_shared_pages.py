"""Pages shared by URLs of a call are fetched once; the URL check runs before the cache and paid backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
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

pytestmark = pytest.mark.anyio

TOKEN = "shared-pages-token-51c2"
BOOKS = "www.sample-books.example"
GOOD_PAGE = "https://www.sample-books.example/book/the-quiet-orchard"
# Address literals only: the check rejects them before any connection, and the tests
# assert that nothing reached the sandboxes for them.
PRIVATE_URL = "http://10.0.0.1/p/1"
METADATA_URL = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR, latency=0.05, seed=5) as running:
        yield running


@pytest.fixture
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, latency=0.01, seed=5) as running:
        yield running


async def call(settings: Settings, arguments: dict[str, Any]) -> CallToolResult:
    async with Client(create_server(settings)) as client:
        return await client.call_tool("extract_products", arguments)


def structured(result: CallToolResult) -> dict[str, Any]:
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert not result.is_error, text
    assert result.structured_content is not None
    return result.structured_content


def page_requests(shop: RunningShop) -> list[str]:
    return [record.path for record in shop.request_log() if record.host is not None]


async def test_listed_product_also_input_fetched_once(shop: RunningShop) -> None:
    site = next(site for site in shop.index()["sites"] if site["host"] == BOOKS)
    product = site["product_urls"][0]
    result = structured(
        await call(sandbox_settings(no_cache=True), {"urls": [site["category_url"], product]})
    )
    paths = page_requests(shop)

    product_path = product.removeprefix(shop.base_url)
    assert paths.count(product_path) == 1
    assert len(paths) == len(set(paths))
    assert [entry["status"] for entry in result["url_results"]] == ["ok", "ok"]
    assert result["stats"]["requests"] == len(paths)
    own = [record for record in result["products"] if "listing_url" not in record]
    listed = [record for record in result["products"] if record.get("listing_url") == site["category_url"]]
    assert len(own) == 1
    assert len(listed) == len(site["product_urls"])


async def test_brightdata_rejects_private_literals(brightdata: RunningBrightData) -> None:
    settings = Settings(brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, no_cache=True)
    result = structured(await call(settings, {"urls": [PRIVATE_URL, METADATA_URL, GOOD_PAGE]}))
    entries = {entry["url"]: entry for entry in result["url_results"]}
    sent = [record.target_url for record in brightdata.request_log()]

    assert entries[GOOD_PAGE]["status"] == "ok"
    for url in (PRIVATE_URL, METADATA_URL):
        assert entries[url]["status"] == "failed"
        assert "was not fetched" in entries[url]["error"]
        assert entries[url]["billed_requests"] == 0
        assert url not in sent
    assert sent == [GOOD_PAGE]
    assert result["stats"]["billed_requests"] == 1


async def test_brightdata_leaves_ports_alone(brightdata: RunningBrightData) -> None:
    url = "https://www.sample-books.example:8443/book/the-quiet-orchard"
    settings = Settings(brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, no_cache=True)
    result = structured(await call(settings, {"urls": [url]}))
    error = result["url_results"][0]["error"] or ""

    assert "port" not in error
    assert [record.target_url for record in brightdata.request_log()] == [url]


async def test_cached_page_rechecked_against_allow_list(shop: RunningShop) -> None:
    url = shop.url_for(GOOD_PAGE)
    first = structured(await call(sandbox_settings(), {"urls": [url]}))
    assert first["url_results"][0]["status"] == "ok"
    before = len(page_requests(shop))

    narrowed = structured(await call(Settings(), {"urls": [url]}))
    entry = narrowed["url_results"][0]

    assert entry["status"] == "failed"
    assert "loopback" in entry["error"]
    assert narrowed["stats"]["cache_hits"] == 0
    assert len(page_requests(shop)) == before

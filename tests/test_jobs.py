"""Results sized for an agent: a byte budget on products, and the whole result as a paged resource."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent, TextResourceContents

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.app import create_server
from tests.conftest import sandbox_settings
from tests.shop_helpers import write_generated_shop

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR) as running:
        yield running


def category_urls(shop: RunningShop) -> list[str]:
    return [site["category_url"] for site in shop.index()["sites"] if site["category_url"]]


async def read_page(client: Client, uri: str) -> dict[str, Any]:
    contents = (await client.read_resource(uri)).contents
    assert isinstance(contents[0], TextResourceContents)
    page: dict[str, Any] = json.loads(contents[0].text)
    return page


async def test_small_result_fits_whole(shop: RunningShop) -> None:
    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", {"urls": category_urls(shop)})
    assert result.structured_content is not None
    assert result.structured_content["products_omitted"] == 0
    assert len(result.structured_content["products"]) == result.structured_content["stats"]["products"]


async def test_budget_leaves_out_products(shop: RunningShop) -> None:
    async with Client(create_server(sandbox_settings(result_budget_bytes=5_000))) as client:
        result = await client.call_tool("extract_products", {"urls": category_urls(shop)})
    content = result.structured_content
    assert content is not None
    kept = len(content["products"])
    assert 0 < kept < content["stats"]["products"]
    assert content["products_omitted"] == content["stats"]["products"] - kept
    assert len(json.dumps(content["products"])) <= 5_000
    summary = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert content["result_uri"] in summary


async def test_resource_pages_cover_result(shop: RunningShop) -> None:
    async with Client(create_server(sandbox_settings(result_budget_bytes=1_000))) as client:
        result = await client.call_tool("extract_products", {"urls": category_urls(shop)})
        assert result.structured_content is not None
        uri = result.structured_content["result_uri"]
        total = result.structured_content["stats"]["products"]

        products: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = await read_page(client, f"{uri}?offset={offset}&limit=3")
            assert page["total_products"] == total
            products.extend(page["products"])
            offset = page["next_offset"]

    assert len(products) == total
    assert len({record["source_url"] for record in products}) == total


async def test_unknown_job_not_found() -> None:
    async with Client(create_server(sandbox_settings())) as client:
        with pytest.raises(MCPError, match="unknown or expired") as raised:
            await client.read_resource("products://jobs/0000000000000000")
    message = str(raised.value)
    # The MCP Inspector CLI starts a new server process per invocation, so the message explains
    # where jobs live.
    assert "memory of the server process that ran them" in message
    assert "MCP Inspector --cli" in message


async def test_oldest_jobs_dropped_past_max(shop: RunningShop) -> None:
    url = category_urls(shop)[0]
    async with Client(create_server(sandbox_settings(max_jobs=2))) as client:
        uris = []
        for _ in range(3):
            result = await client.call_tool("extract_products", {"urls": [url], "max_products_per_url": 1})
            assert result.structured_content is not None
            uris.append(result.structured_content["result_uri"])
        listed = json.loads(_text((await client.read_resource("products://jobs")).contents[0]))
        with pytest.raises(MCPError, match="unknown or expired"):
            await client.read_resource(uris[0])
        newest = await read_page(client, uris[2])

    assert [job["uri"] for job in listed["jobs"]] == [uris[2], uris[1]]
    assert len(newest["products"]) == 1


def _text(contents: Any) -> str:
    assert isinstance(contents, TextResourceContents)
    return contents.text


@pytest.mark.parametrize("query", ["?limit=0", "?limit=501", "?offset=-1"])
async def test_bad_page_bounds_rejected(shop: RunningShop, query: str) -> None:
    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", {"urls": category_urls(shop)[:1]})
        assert result.structured_content is not None
        with pytest.raises(MCPError, match="limit 1 to 500"):
            await client.read_resource(result.structured_content["result_uri"] + query)


async def test_job_template_listed() -> None:
    async with Client(create_server(sandbox_settings())) as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert [template.uri_template for template in templates] == ["products://jobs/{job_id}{?offset,limit}"]


async def test_cancelled_job_stays_readable(tmp_path: Path) -> None:
    host = "www.lamps.example"
    write_generated_shop(tmp_path, host, products=6)
    with running_shop(tmp_path) as slow_shop:
        category = slow_shop.category_url(host)
        # The first product page responds at once; the others hang until the shop stops.
        slow_shop.set_fault(f"/{host}/lamps/", latency=30.0)
        slow_shop.set_fault(f"/{host}/lamps/lamp-1", latency=0.0)

        async with Client(create_server(sandbox_settings())) as client:
            with anyio.move_on_after(1.5):
                await client.call_tool("extract_products", {"urls": [category]})
            started = time.monotonic()
            jobs = (await read_page(client, "products://jobs"))["jobs"]
            assert len(jobs) == 1
            assert jobs[0]["status"] == "cancelled"
            page = await read_page(client, jobs[0]["uri"])
            await anyio.sleep(1.0)
            requests_after_cancel = [
                record for record in slow_shop.request_log() if record.start_monotonic > started
            ]

    assert [record["name"] for record in page["products"]] == ["Test lamp 1"]
    entry = page["url_results"][0]
    assert entry["status"] == "partial"
    assert "cancelled by the client with 1 of 6 product pages done" in entry["error"]
    assert requests_after_cancel == []

"""Cancellation over stdio, and streaming, paging and cancellation over streamable HTTP."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.types import ProgressNotification, TextResourceContents

from product_extractor.sandbox import RunningShop, running_shop
from product_extractor.server.streaming import BATCH_META_KEY
from tests.conftest import server_environment
from tests.shop_helpers import write_generated_shop

pytestmark = pytest.mark.anyio

HOST = "www.lamps.example"


@pytest.fixture
def hanging_shop(tmp_path: Path) -> Iterator[RunningShop]:
    """A shop whose first product page responds at once and whose other product pages hang."""
    write_generated_shop(tmp_path / "shop", HOST, products=6)
    with running_shop(tmp_path / "shop") as shop:
        shop.set_fault(f"/{HOST}/lamps/", latency=30.0)
        shop.set_fault(f"/{HOST}/lamps/lamp-1", latency=0.0)
        yield shop


async def read_json(client: Client, uri: str) -> dict[str, Any]:
    contents = (await client.read_resource(uri)).contents
    assert isinstance(contents[0], TextResourceContents)
    data: dict[str, Any] = json.loads(contents[0].text)
    return data


async def cancel_and_read_job(client: Client, shop: RunningShop) -> tuple[dict[str, Any], list[Any]]:
    """Start a call, cancel it after 1.5 s, and return the kept job and requests started after the cancel."""
    with anyio.move_on_after(1.5):
        await client.call_tool("extract_products", {"urls": [shop.category_url(HOST)]})
    cancelled_at = time.monotonic()
    await anyio.sleep(1.0)
    jobs = (await read_json(client, "products://jobs"))["jobs"]
    assert [job["status"] for job in jobs] == ["cancelled"]
    page = await read_json(client, jobs[0]["uri"])
    late = [record for record in shop.request_log() if record.start_monotonic > cancelled_at]
    return page, late


def assert_cancelled_job(page: dict[str, Any]) -> None:
    assert [record["name"] for record in page["products"]] == ["Test lamp 1"]
    assert "cancelled by the client with 1 of 6 product pages done" in page["url_results"][0]["error"]


async def test_cancel_over_stdio(hanging_shop: RunningShop) -> None:
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "product_extractor.server", "serve"], env=server_environment()
    )
    async with Client(parameters) as client:
        page, late = await cancel_and_read_job(client, hanging_shop)
    assert_cancelled_job(page)
    assert late == []


async def test_cancel_over_http(hanging_shop: RunningShop, http_server: str) -> None:
    async with Client(http_server) as client:
        page, late = await cancel_and_read_job(client, hanging_shop)
    assert_cancelled_job(page)
    assert late == []


async def test_batches_and_pages_over_http(http_server: str, tmp_path: Path) -> None:
    write_generated_shop(tmp_path / "shop", HOST, products=12)
    batches: list[list[dict[str, Any]]] = []

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, ProgressNotification) and BATCH_META_KEY in (message.params.meta or {}):
            batches.append(message.params.meta[BATCH_META_KEY]["products"])  # type: ignore[index]

    async def on_progress(_done: float, _total: float | None, _message: str | None) -> None:
        pass

    with running_shop(tmp_path / "shop", latency=0.05) as shop:
        async with Client(http_server, message_handler=on_message) as client:
            result = await client.call_tool(
                "extract_products", {"urls": [shop.category_url(HOST)]}, progress_callback=on_progress
            )
            assert result.structured_content is not None
            uri = result.structured_content["result_uri"]
            first = await read_json(client, f"{uri}?offset=0&limit=5")
            second = await read_json(client, f"{uri}?offset=5&limit=10")

    streamed = [record["source_url"] for batch in batches for record in batch]
    assert len(streamed) == 12
    assert len(set(streamed)) == 12
    assert len(first["products"]) == 5
    assert len(second["products"]) == 7
    assert second["next_offset"] is None

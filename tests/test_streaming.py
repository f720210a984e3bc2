"""Product batches streamed as progress notifications, over stdio as an MCP host receives them."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import ProgressNotification

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.streaming import BATCH_META_KEY
from tests.conftest import server_environment

pytestmark = pytest.mark.anyio

SLOW_HOST = "www.sample-kitchen.example"


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR, latency=0.05, seed=3) as running:
        running.set_fault(SLOW_HOST, latency=1.5)
        yield running


async def test_batches_arrive_before_slowest_url(shop: RunningShop) -> None:
    urls = [site["category_url"] for site in shop.index()["sites"] if site["category_url"]]
    batches: list[tuple[float, list[dict[str, Any]], float, float | None]] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ProgressNotification):
            meta = message.params.meta or {}
            if BATCH_META_KEY in meta:
                records = meta[BATCH_META_KEY]["products"]
                batches.append((time.monotonic(), records, message.params.progress, message.params.total))

    async def on_progress(_done: float, _total: float | None, _message: str | None) -> None:
        pass

    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "product_extractor.server", "serve"],
        env={
            **server_environment(),
            "PRODUCT_EXTRACTOR_BATCH_SIZE": "2",
            "PRODUCT_EXTRACTOR_BATCH_INTERVAL_MS": "100",
        },
    )
    async with Client(parameters, message_handler=on_message) as client:
        result = await client.call_tool("extract_products", {"urls": urls}, progress_callback=on_progress)

    assert result.structured_content is not None
    final = [record["source_url"] for record in result.structured_content["products"]]
    streamed = [record["source_url"] for _at, records, _progress, _total in batches for record in records]
    assert sorted(streamed) == sorted(final)
    assert len(streamed) == len(set(streamed))

    slow_requests = [record for record in shop.request_log() if record.host == SLOW_HOST]
    slowest_finished = max(record.end_monotonic for record in slow_requests)
    assert batches[0][0] < slowest_finished
    assert [progress for _at, _records, progress, _total in batches] == sorted(
        progress for _at, _records, progress, _total in batches
    )
    assert batches[-1][2] == len(final)

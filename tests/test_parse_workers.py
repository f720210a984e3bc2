"""Parse worker processes: how many a call leaves running, and what a worker that cannot start costs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.app import create_server
from tests.conftest import sandbox_settings

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc"),
]

WORKERS = 2


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    # Slow enough that a cancel 20 ms into a call lands while its workers are still starting.
    with running_shop(SAMPLE_SHOP_DIR, latency=(0.05, 0.1), seed=5) as running:
        yield running


def category_urls(shop: RunningShop) -> list[str]:
    return [site["category_url"] for site in shop.index()["sites"] if site["category_url"]]


def parse_workers() -> list[int]:
    """Return the pids of this process's live anyio worker processes."""
    pids = []
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue  # the process exited meanwhile
            if b"anyio.to_process" in command:
                pids.append(int(pid))
    return pids


async def test_early_cancels_leave_no_extra_workers(shop: RunningShop) -> None:
    urls = category_urls(shop)
    async with Client(create_server(sandbox_settings(parse_processes=WORKERS))) as client:
        for _ in range(4):
            with anyio.move_on_after(0.02):
                await client.call_tool("extract_products", {"urls": urls, "no_cache": True})
        result = await client.call_tool("extract_products", {"urls": urls, "no_cache": True})

        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["stats"]["urls_ok"] == len(urls)
        assert len(parse_workers()) <= WORKERS


async def test_workers_reused_across_calls(shop: RunningShop) -> None:
    urls = category_urls(shop)[:1]
    async with Client(create_server(sandbox_settings(parse_processes=WORKERS))) as client:
        await client.call_tool("extract_products", {"urls": urls, "no_cache": True})
        first = sorted(parse_workers())
        await client.call_tool("extract_products", {"urls": urls, "no_cache": True})
        second = sorted(parse_workers())

    assert len(first) == WORKERS
    assert second == first


async def test_concurrent_calls_share_workers(shop: RunningShop) -> None:
    urls = category_urls(shop)
    async with Client(create_server(sandbox_settings(parse_processes=WORKERS))) as client:
        results = []

        async def call() -> None:
            results.append(await client.call_tool("extract_products", {"urls": urls, "no_cache": True}))

        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(call)
        workers = parse_workers()

    assert [result.is_error for result in results] == [False] * 3
    assert len(workers) <= WORKERS


async def test_worker_start_failure_fails_pages_not_call(
    shop: RunningShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # anyio starts a worker by running this process's main module in it, so a main module
    # that raises makes every worker start fail, as a worker killed while starting would.
    broken_main = tmp_path / "broken_main.py"
    broken_main.write_text('raise RuntimeError("this worker cannot start")\n')
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(broken_main), raising=False)
    urls = category_urls(shop)

    with caplog.at_level(logging.WARNING, logger="product_extractor.tools.parsing"):
        async with Client(create_server(sandbox_settings(parse_processes=WORKERS))) as client:
            result = await client.call_tool("extract_products", {"urls": urls, "no_cache": True})

    assert not result.is_error
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    assert [entry["status"] for entry in structured["url_results"]] == ["failed"] * len(urls)
    assert all("BrokenWorkerProcess" in entry["error"] for entry in structured["url_results"])
    assert "a parse worker process failed to start" in caplog.text

"""Execution traces: one JSON line per tool call, with the token kept out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningBrightData, running_brightdata
from product_extractor.server.app import create_server
from product_extractor.server.settings import Settings
from product_extractor.server.traces import TraceWriter

pytestmark = pytest.mark.anyio

TOKEN = "trace-token-90d1c7b2e4"


@pytest.fixture
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN) as running:
        yield running


def read_records(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.glob("traces-*.jsonl"))
    assert len(files) == 1, f"expected one trace file in {folder}, found {files}"
    return [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]


async def test_each_call_writes_one_record(brightdata: RunningBrightData, tmp_path: Path) -> None:
    settings = Settings(
        brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, trace_dir=tmp_path
    )
    async with Client(create_server(settings)) as client:
        reply = await client.call_tool(
            "extract_products", {"urls": ["https://www.sample-books.example/_category"]}
        )
        await client.call_tool("extract_products", {"urls": ["ftp://shop.example/"]})
        await client.call_tool(
            "extract_products",
            {"urls": ["https://www.sample-books.example/_category"], "max_cost_usd": 0, "no_cache": True},
        )

    records = read_records(tmp_path)
    assert [record["outcome"] for record in records] == ["ok", "error", "ok"]
    first = records[0]
    assert first["tool"] == "extract_products"
    assert first["result"]["products"] >= 1
    assert reply.structured_content is not None
    assert first["job_id"] == reply.structured_content["job_id"]
    assert first["arguments"] == {"urls": ["https://www.sample-books.example/_category"]}
    assert first["urls"][0]["status"] == "ok"
    assert first["urls"][0]["billed_requests"] == brightdata.billed_requests()
    assert first["urls"][0]["retries"] == 0
    assert first["result"]["stats"]["backend"] == "brightdata"
    assert "urls.0" in records[1]["error"]["message"]
    assert records[2]["urls"][0]["status"] == "failed"


async def test_trace_file_never_holds_token(brightdata: RunningBrightData, tmp_path: Path) -> None:
    category = {"urls": ["https://www.sample-books.example/_category"]}
    wrong = Settings(
        brightdata_api_token="wrong-" + TOKEN, brightdata_api_url=brightdata.base_url, trace_dir=tmp_path
    )
    right = Settings(brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, trace_dir=tmp_path)
    async with Client(create_server(wrong)) as client:
        await client.call_tool("extract_products", category)
    async with Client(create_server(right)) as client:
        await client.call_tool("extract_products", category)
        # An argument that carries the token, which the error message would echo back.
        await client.call_tool("extract_products", {**category, "key": TOKEN})

    text = read_trace_text(tmp_path)
    assert len(text.splitlines()) == 3
    assert TOKEN not in text.replace("wrong-" + TOKEN, "")


def read_trace_text(folder: Path) -> str:
    return next(folder.glob("traces-*.jsonl")).read_text(encoding="utf-8")


def test_unwritable_folder_drops_trace(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = TraceWriter(blocker / "traces")
    assert writer.write({"outcome": "ok"}) is None

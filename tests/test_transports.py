"""The server as an MCP host runs it: a subprocess over stdio, and over streamable HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_brightdata, running_shop
from tests.conftest import server_environment

pytestmark = pytest.mark.anyio

CLI_TOKEN = "cli-extract-token-7a0d"  # made up for the sandbox Bright Data


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR, latency=(0.01, 0.05), seed=11) as running:
        yield running


def category_urls(shop: RunningShop) -> list[str]:
    return [site["category_url"] for site in shop.index()["sites"] if site["category_url"]]


async def test_stdio_server_extracts(shop: RunningShop) -> None:
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "product_extractor.server", "serve"], env=server_environment()
    )
    urls = category_urls(shop)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(parameters) as client:
        tools = await client.list_tools()
        result = await client.call_tool("extract_products", {"urls": urls}, progress_callback=on_progress)

    assert [tool.name for tool in tools.tools] == ["extract_products"]
    assert not result.is_error
    assert result.structured_content is not None
    statuses = [entry["status"] for entry in result.structured_content["url_results"]]
    assert statuses == ["ok"] * len(urls)
    assert progress, "no progress notification arrived"
    assert progress[-1][0] == result.structured_content["stats"]["products"]
    assert progress[-1][1] == result.structured_content["stats"]["products"]
    assert all(message and "/_category: " in message for _done, _total, message in progress)
    summary = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert f"from {len(urls)} URLs" in summary


def test_extract_command_prints_json(shop: RunningShop) -> None:
    url = category_urls(shop)[0]
    completed = subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "extract", url, "--max-products-per-url", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=server_environment(),
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["url_results"][0]["status"] == "ok"
    assert len(result["products"]) == 2


def test_extract_command_rejects_bad_url() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "extract", "ftp://shop.example/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "urls.0" in completed.stderr
    assert completed.stdout == ""


def run_extract(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "extract", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


def test_extract_command_bills_brightdata() -> None:
    url = "https://www.sample-books.example/book/the-quiet-orchard"
    with running_brightdata(SAMPLE_SHOP_DIR, token=CLI_TOKEN) as brightdata:
        environment = {
            **server_environment(),
            "BRIGHTDATA_API_TOKEN": CLI_TOKEN,
            "PRODUCT_EXTRACTOR_BRIGHTDATA_API_URL": brightdata.base_url,
        }
        completed = run_extract(
            url, "--backend", "brightdata", "--max-cost-usd", "0.01", environment=environment
        )
        billed = brightdata.billed_requests()

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["stats"]["backend"] == "brightdata"
    assert result["url_results"][0]["status"] == "ok"
    assert result["stats"]["billed_requests"] == billed == 1
    assert CLI_TOKEN not in completed.stdout + completed.stderr


def test_extract_command_brightdata_needs_token(shop: RunningShop) -> None:
    environment = {key: value for key, value in server_environment().items() if key != "BRIGHTDATA_API_TOKEN"}
    completed = run_extract(category_urls(shop)[0], "--backend", "brightdata", environment=environment)

    assert completed.returncode == 2
    assert "needs a Bright Data API token" in completed.stderr
    assert completed.stdout == ""


async def test_http_server_extracts(shop: RunningShop, http_server: str) -> None:
    urls = category_urls(shop)[:2]
    async with Client(http_server) as client:
        result = await client.call_tool("extract_products", {"urls": urls})
    assert not result.is_error
    assert result.structured_content is not None
    assert [entry["status"] for entry in result.structured_content["url_results"]] == ["ok", "ok"]


def test_demo_runs_on_sample_shop(tmp_path: Path) -> None:
    # The demo writes its traces under the working directory, so it runs in a scratch folder.
    completed = subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "demo", "--pages", str(SAMPLE_SHOP_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "4 ok, 0 partial, 0 failed" in completed.stdout
    trace_file = next((tmp_path / "traces").glob("traces-*.jsonl"))
    assert len(trace_file.read_text().splitlines()) == 2


def test_stdout_carries_only_json_rpc(shop: RunningShop) -> None:
    urls = [*category_urls(shop), f"{shop.base_url}/www.sample-books.example/no-such-page"]
    process = subprocess.Popen(
        [sys.executable, "-m", "product_extractor.server", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_environment(),
    )
    assert process.stdin is not None
    assert process.stdout is not None

    def send(message: dict[str, object]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()

    send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
    )
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "extract_products",
                "arguments": {"urls": urls},
                "_meta": {"progressToken": "job"},
            },
        }
    )

    messages = []
    while True:
        line = process.stdout.readline()
        assert line, "the server closed stdout before answering the call"
        messages.append(json.loads(line))
        if messages[-1].get("id") == 2:
            break
    process.stdin.close()
    process.wait(timeout=10)
    stderr = process.stderr.read() if process.stderr else ""

    assert all(message["jsonrpc"] == "2.0" for message in messages)
    assert any(message.get("method") == "notifications/progress" for message in messages)
    assert "no-such-page" in stderr
    assert process.returncode == 0


def test_invalid_setting_named_on_stderr() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PRODUCT_EXTRACTOR_LISTING_CONCURRENCY": "abc"},
    )
    assert completed.returncode == 2
    assert "PRODUCT_EXTRACTOR_LISTING_CONCURRENCY" in completed.stderr
    assert "'abc'" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""

"""Per-call bounds from the settings (URLs, products, the whole call's deadline) through a real MCP client."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.app import create_server
from product_extractor.server.settings import Settings, SettingsError, load_settings
from tests.conftest import sandbox_settings, server_environment

pytestmark = pytest.mark.anyio


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR) as running:
        yield running


def category_urls(shop: RunningShop) -> list[str]:
    return [site["category_url"] for site in shop.index()["sites"] if site["category_url"]]


async def call(settings: Settings, arguments: dict[str, Any]) -> CallToolResult:
    async with Client(create_server(settings)) as client:
        return await client.call_tool("extract_products", arguments)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


# Arguments past a bound


async def test_too_many_urls_rejected() -> None:
    urls = [f"https://shop.example/p/{number}" for number in range(3)]
    result = await call(sandbox_settings(max_urls_per_call=2), {"urls": urls})
    assert result.is_error
    assert "- urls: contains 3 URLs, more than this server's limit of 2 per call" in text_of(result)
    assert "PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL" in text_of(result)


async def test_products_per_url_over_call_limit() -> None:
    arguments = {"urls": ["https://shop.example/"], "max_products_per_url": 20}
    result = await call(sandbox_settings(max_products_per_call=10), arguments)
    assert result.is_error
    assert "- max_products_per_url: is more than this server's limit of 10 products per call" in text_of(
        result
    )


async def test_timeout_over_job_deadline_rejected() -> None:
    result = await call(
        sandbox_settings(job_timeout_s=5), {"urls": ["https://shop.example/"], "timeout_s": 10}
    )
    assert result.is_error
    assert "- timeout_s: is longer than this server's deadline for a whole call, 5 s" in text_of(result)


async def test_schema_shows_server_bounds() -> None:
    settings = sandbox_settings(max_urls_per_call=7, max_products_per_call=40, job_timeout_s=90)
    async with Client(create_server(settings)) as client:
        [tool] = (await client.list_tools()).tools
    properties = tool.input_schema["properties"]
    assert properties["urls"]["maxItems"] == 7
    assert "1 to 7 absolute" in properties["urls"]["description"]
    assert properties["max_products_per_url"]["maximum"] == 40
    assert properties["timeout_s"]["maximum"] == 90
    assert properties["timeout_s"]["default"] == 90
    assert "after 90 s at the latest" in properties["timeout_s"]["description"]


def test_cli_rejects_too_many_urls() -> None:
    environment = {**server_environment(), "PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL": "1"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "product_extractor.server",
            "extract",
            "https://a.example/",
            "https://b.example/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert completed.returncode == 2
    assert "more than this server's limit of 1 per call" in completed.stderr


def test_bound_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MAX_URLS_PER_CALL",
        "MAX_PRODUCTS_PER_CALL",
        "JOB_TIMEOUT_S",
        "BODY_TIMEOUT_S",
        "PARSE_TIMEOUT_S",
    ):
        monkeypatch.delenv(f"PRODUCT_EXTRACTOR_{name}", raising=False)
    settings = load_settings()
    assert settings.max_urls_per_call == 50
    assert settings.max_products_per_call == 1500
    assert settings.job_timeout_s == 600
    assert settings.body_timeout_s == 60
    assert settings.parse_timeout_s == 30


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL", "0"),
        ("PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL", "1001"),
        ("PRODUCT_EXTRACTOR_MAX_PRODUCTS_PER_CALL", "0"),
        ("PRODUCT_EXTRACTOR_JOB_TIMEOUT_S", "601"),
        ("PRODUCT_EXTRACTOR_BODY_TIMEOUT_S", "0"),
        ("PRODUCT_EXTRACTOR_PARSE_TIMEOUT_S", "-1"),
    ],
)
def test_invalid_bound_setting_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


# Bounds that cut a call short


async def test_product_limit_shared_by_urls(shop: RunningShop) -> None:
    urls = category_urls(shop)
    total = sum(len(site["product_urls"]) for site in shop.index()["sites"] if site["category_url"])
    assert total > 5
    shop.clear_log()

    reply = await call(sandbox_settings(max_products_per_call=5), {"urls": urls})
    result = structured(reply)

    assert len(result["products"]) == 5
    assert result["stats"]["product_limit_reached"] is True
    cut = [entry for entry in result["url_results"] if entry["cut_short_by_product_limit"]]
    assert cut, "no URL reports that the limit cut it short"
    for entry in cut:
        assert entry["status"] in ("partial", "failed")
        assert "limit of 5 products per call" in entry["error"]
    for entry in result["url_results"]:
        if not entry["cut_short_by_product_limit"]:
            assert entry["status"] == "ok", entry
    product_requests = [
        record for record in shop.request_log() if "_category" not in record.path and record.host is not None
    ]
    assert len(product_requests) == 5
    assert "limit of products per call cut some URLs short" in text_of(reply)


async def test_job_deadline_ends_slow_url(shop: RunningShop) -> None:
    healthy, slow = category_urls(shop)[:2]
    slow_host = slow.split("/")[3]
    shop.set_fault(slow_host, latency=30.0)

    reply = await call(sandbox_settings(job_timeout_s=3), {"urls": [slow, healthy]})
    result = structured(reply)

    [slow_entry, healthy_entry] = result["url_results"]
    assert slow_entry["status"] == "failed"
    assert slow_entry["timed_out"] is True
    assert "deadline for a whole call, 3 s (PRODUCT_EXTRACTOR_JOB_TIMEOUT_S)" in slow_entry["error"]
    assert result["stats"]["job_timed_out"] is True
    assert healthy_entry["status"] == "ok"
    assert healthy_entry["timed_out"] is False
    assert healthy_entry["products_found"] > 0
    assert "deadline for a whole call stopped some URLs" in text_of(reply)


async def test_url_deadline_not_job_deadline(shop: RunningShop) -> None:
    healthy, slow = category_urls(shop)[:2]
    shop.set_fault(slow.split("/")[3], latency=30.0)

    result = structured(await call(sandbox_settings(), {"urls": [slow, healthy], "timeout_s": 1}))

    [slow_entry, healthy_entry] = result["url_results"]
    assert slow_entry["timed_out"] is True
    assert "timed out after 1 s" in slow_entry["error"]
    assert result["stats"]["job_timed_out"] is False
    assert healthy_entry["status"] == "ok"


def test_cli_default_timeout_fits_short_deadline(shop: RunningShop) -> None:
    # The command's default timeout_s (120 s) adapts to a shorter deadline for the whole call.
    environment = {**server_environment(), "PRODUCT_EXTRACTOR_JOB_TIMEOUT_S": "30"}
    completed = subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "extract", category_urls(shop)[0]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr
    assert '"status": "ok"' in completed.stdout

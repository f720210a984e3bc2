"""Fault injection for direct fetching: each shop fault on one URL, a healthy listing beside it.

Every call goes through a real MCP client to the server, which fetches from
the sandbox shop over HTTP on 127.0.0.1. For each fault the call ends inside
its deadline, the healthy listing's products come back exactly as without
the fault, and the faulty URL reports its status and a reason naming the
fault. docs/faults-direct.md lists the outcomes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from product_extractor.sandbox import RunningShop, running_shop
from product_extractor.sandbox.body_faults import (
    BodyFault,
    CompressionBomb,
    ConnectionReset,
    DeepNesting,
    HugePage,
    InvalidUtf8,
    MalformedJsonLd,
    RedirectLoop,
    Trickle,
    Truncated,
    WrongContentType,
)
from product_extractor.server.app import create_server
from tests.conftest import sandbox_settings, server_environment

pytestmark = pytest.mark.anyio

TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"  # JSON-LD Product page
TENT_PATH = "/www.sample-outdoor.example/products/ridgeline-2-tent"
TENT_NAME = "Ridgeline 2 Trekking Tent"
HEALTHY_HOST = "www.sample-books.example"  # its category is the healthy listing of every call

PAGE_LIMIT = 2 * 1024 * 1024  # max_page_bytes of these calls: small, so huge bodies fail fast
BODY_TIMEOUT_S = 1.0
SETTINGS = {"max_page_bytes": PAGE_LIMIT, "body_timeout_s": BODY_TIMEOUT_S, "job_timeout_s": 60.0}


@dataclass(frozen=True)
class Case:
    """One fault on the faulty URL, and what its url_results entry must report."""

    fault: dict[str, Any]  # keyword arguments of RunningShop.set_fault
    status: str
    reason: str  # a part of the entry's error message naming the fault
    timed_out: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)  # extra extract_products arguments
    settings: dict[str, Any] = field(default_factory=dict)  # settings that differ from SETTINGS


CASES = {
    "latency spike": Case(
        {"spike_rate": 1.0, "spike_s": 30.0}, "failed", "timed out after 2 s", True, {"timeout_s": 2}
    ),
    # 50 failures outlast a retry budget of a few attempts, so the URL fails with retries too.
    "5xx burst": Case({"status": 503, "burst": 50}, "failed", "answered HTTP 503"),
    "connection reset": Case(
        {"body": ConnectionReset(after_bytes=1024)}, "failed", "closed the connection after 1024 bytes"
    ),
    "trickle, body timeout": Case({"body": Trickle(interval_s=0.05)}, "failed", "sent its body too slowly"),
    "trickle, URL deadline": Case(
        {"body": Trickle(interval_s=0.05)},
        "failed",
        "timed out after 2 s",
        True,
        {"timeout_s": 2},
        {"body_timeout_s": 60.0},
    ),
    "truncated body": Case(
        {"body": Truncated(fraction=0.5)}, "failed", "announced bytes, so the page arrived incomplete"
    ),
    "image/png content type": Case(
        {"body": WrongContentType("image/png")}, "failed", "is image/png, not an HTML page"
    ),
    "application/json content type": Case(
        {"body": WrongContentType("application/json")}, "failed", "is application/json, not an HTML page"
    ),
    "redirect loop": Case({"body": RedirectLoop()}, "failed", "redirected more than 5 times"),
    "huge page, announced": Case(
        {"body": HugePage(extra_bytes=64 * 1024 * 1024)},
        "failed",
        "(Content-Length), more than the 2 MB page limit",
    ),
    "huge page, chunked": Case(
        {"body": HugePage(extra_bytes=64 * 1024 * 1024, declare_length=False)},
        "failed",
        "is larger than the 2 MB page limit",
    ),
    "gzip bomb": Case(
        {"body": CompressionBomb(coding="gzip")}, "failed", "decompresses to more than the 2 MB"
    ),
    "deflate bomb": Case(
        {"body": CompressionBomb(coding="deflate")}, "failed", "decompresses to more than the 2 MB"
    ),
    "deep nesting": Case({"body": DeepNesting(depth=100_000)}, "failed", "nests its elements more than 4096"),
}


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop() as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults_left(shop: RunningShop) -> Iterator[None]:
    yield
    shop.clear_faults()


async def call(arguments: dict[str, Any], **settings: Any) -> dict[str, Any]:
    async with Client(create_server(sandbox_settings(**{**SETTINGS, **settings}))) as client:
        result = await client.call_tool("extract_products", arguments)
    return structured(result)


def structured(result: CallToolResult) -> dict[str, Any]:
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    assert not result.is_error, text
    assert result.structured_content is not None
    return result.structured_content


def entry_for(result: dict[str, Any], url: str) -> dict[str, Any]:
    [entry] = [entry for entry in result["url_results"] if entry["url"] == url]
    return entry


def products_of(result: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [
        record for record in result["products"] if url in (record["source_url"], record.get("listing_url"))
    ]


@pytest.fixture(scope="module")
async def healthy_products(shop: RunningShop) -> list[dict[str, Any]]:
    """The healthy listing's products from a call without faults, the baseline every call must match."""
    listing = shop.category_url(HEALTHY_HOST)
    result = await call({"urls": [listing]})
    products = products_of(result, listing)
    assert products, "the healthy listing gave no products"
    return products


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def assert_healthy_intact(result: dict[str, Any], shop: RunningShop, baseline: list[dict[str, Any]]) -> None:
    listing = shop.category_url(HEALTHY_HOST)
    entry = entry_for(result, listing)
    assert entry["status"] == "ok", entry
    assert entry["timed_out"] is False
    assert products_of(result, listing) == baseline


@pytest.mark.parametrize("name", list(CASES))
async def test_fault_fails_only_its_url(
    shop: RunningShop, healthy_products: list[dict[str, Any]], name: str
) -> None:
    case = CASES[name]
    shop.set_fault(TENT_PATH, **case.fault)
    faulty = shop.url_for(TENT)

    result = await call(
        {"urls": [faulty, shop.category_url(HEALTHY_HOST)], **case.arguments}, **case.settings
    )

    assert result["stats"]["job_timed_out"] is False
    entry = entry_for(result, faulty)
    assert entry["status"] == case.status
    assert case.reason in (entry["error"] or ""), entry["error"]
    assert entry["timed_out"] is case.timed_out
    assert products_of(result, faulty) == []
    assert_healthy_intact(result, shop, healthy_products)


async def test_malformed_json_ld_falls_back(
    shop: RunningShop, healthy_products: list[dict[str, Any]]
) -> None:
    shop.set_fault(TENT_PATH, body=MalformedJsonLd())
    faulty = shop.url_for(TENT)

    result = await call({"urls": [faulty, shop.category_url(HEALTHY_HOST)]})

    entry = entry_for(result, faulty)
    assert entry["status"] == "ok"
    [product] = products_of(result, faulty)
    assert product["name"] == TENT_NAME
    assert product["price"] == "129.95"
    assert product["extracted_by"] == "heuristic"
    assert_healthy_intact(result, shop, healthy_products)


async def test_invalid_utf8_keeps_product(shop: RunningShop, healthy_products: list[dict[str, Any]]) -> None:
    shop.set_fault(TENT_PATH, body=InvalidUtf8())
    faulty = shop.url_for(TENT)

    result = await call({"urls": [faulty, shop.category_url(HEALTHY_HOST)]})

    assert entry_for(result, faulty)["status"] == "ok"
    [product] = products_of(result, faulty)
    assert product["name"] == TENT_NAME
    assert product["extracted_by"] == "json-ld"
    assert_healthy_intact(result, shop, healthy_products)


async def test_faulty_product_page_partial_listing(shop: RunningShop) -> None:
    # A gzip bomb on one product page of a listing costs the listing that product only.
    listing = shop.category_url("www.sample-outdoor.example")
    shop.set_fault(TENT_PATH, body=CompressionBomb())

    result = await call({"urls": [listing]})

    entry = entry_for(result, listing)
    assert entry["status"] == "partial"
    assert entry["failed_product_pages"] == 1
    assert "decompresses to more than the 2 MB page limit" in entry["error"]
    assert entry["products_found"] == entry["product_links"] - 1
    assert TENT_NAME not in [record.get("name") for record in products_of(result, listing)]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (CompressionBomb(), "decompresses to more than the 2 MB page limit"),
        (Trickle(interval_s=0.05), "sent its body too slowly"),
    ],
)
async def test_fault_over_stdio(
    shop: RunningShop, healthy_products: list[dict[str, Any]], fault: BodyFault, reason: str
) -> None:
    shop.set_fault(TENT_PATH, body=fault)
    faulty = shop.url_for(TENT)
    environment = {
        **server_environment(),
        "PRODUCT_EXTRACTOR_MAX_PAGE_BYTES": str(PAGE_LIMIT),
        "PRODUCT_EXTRACTOR_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    }
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "product_extractor.server", "serve"], env=environment
    )

    async with Client(parameters) as client:
        result = structured(
            await client.call_tool("extract_products", {"urls": [faulty, shop.category_url(HEALTHY_HOST)]})
        )

    entry = entry_for(result, faulty)
    assert entry["status"] == "failed"
    assert reason in entry["error"]
    assert result["stats"]["job_timed_out"] is False
    assert_healthy_intact(result, shop, healthy_products)

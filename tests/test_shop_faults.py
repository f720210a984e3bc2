"""Broken responses from the sandbox shop: each fails its own URL with the right reason, and only that URL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.sandbox.body_faults import BODY_FAULTS, BodyFault
from product_extractor.server.app import create_server
from tests.conftest import sandbox_settings

TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"
TENT_PATH = "/www.sample-outdoor.example/products/ridgeline-2-tent"
BOOKS = "www.sample-books.example"
DEADLINE_S = 3  # the faulted URL's timeout_s; a trickled page never finishes before it

# (fault, the faulted URL's status, words its error must contain; None: no error)
OUTCOMES: list[tuple[BodyFault, str, str | None]] = [
    ("trickle", "failed", f"timed out after {DEADLINE_S} s"),
    ("truncated", "failed", "broke off after"),
    ("reset", "failed", "broke off after 0 bytes"),
    ("wrong-content-type", "failed", "is application/octet-stream, not an HTML page"),
    ("redirect-loop", "failed", "redirected more than 5 times"),
    ("huge", "failed", "larger than the 10 MB page limit"),
    ("gzip-bomb", "failed", "larger than the 10 MB page limit"),
    ("invalid-utf8", "ok", None),
    ("malformed-json-ld", "ok", None),
]


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR) as running:
        yield running


def test_outcomes_cover_every_fault() -> None:
    assert sorted(fault for fault, _status, _error in OUTCOMES) == sorted(BODY_FAULTS)


@pytest.mark.anyio
@pytest.mark.parametrize(("fault", "status", "error"), OUTCOMES)
async def test_fault_fails_only_its_url(
    shop: RunningShop, fault: BodyFault, status: str, error: str | None
) -> None:
    shop.clear_faults()
    shop.set_fault(TENT_PATH, body=fault)
    tent = shop.url_for(TENT)
    books = shop.category_url(BOOKS)

    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", {"urls": [tent, books], "timeout_s": DEADLINE_S})
    shop.clear_faults()

    assert result.structured_content is not None
    entries = {entry["url"]: entry for entry in result.structured_content["url_results"]}
    assert entries[tent]["status"] == status
    if error is None:
        assert entries[tent]["error"] is None
    else:
        assert error in entries[tent]["error"]
    assert entries[books]["status"] == "ok"
    assert entries[books]["products_found"] == 3


@pytest.mark.anyio
async def test_malformed_json_ld_falls_back(shop: RunningShop) -> None:
    shop.set_fault(TENT_PATH, body="malformed-json-ld")
    tent = shop.url_for(TENT)

    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", {"urls": [tent]})
    shop.clear_faults()

    assert result.structured_content is not None
    [product] = result.structured_content["products"]
    assert product["name"] == "Desk lamp"
    assert product["price"] == "24.50"


def test_fault_response_marked(shop: RunningShop) -> None:
    shop.set_fault(TENT_PATH, body="wrong-content-type")
    try:
        response = httpx2.get(shop.url_for(TENT), timeout=10)
    finally:
        shop.clear_faults()

    assert response.headers["x-sandbox-fault"] == "wrong-content-type"
    assert response.headers["content-type"] == "application/octet-stream"


def test_gzip_bomb_small_on_wire(shop: RunningShop) -> None:
    shop.set_fault(TENT_PATH, body="gzip-bomb")
    try:
        with httpx2.stream("GET", shop.url_for(TENT), timeout=10) as response:
            compressed = sum(len(chunk) for chunk in response.iter_raw())
    finally:
        shop.clear_faults()

    assert response.headers["content-encoding"] == "gzip"
    assert compressed < 1024 * 1024

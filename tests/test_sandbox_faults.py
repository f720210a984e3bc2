"""The sandbox shop's injected faults on the wire: status bursts, latency spikes and damaged bodies."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator

import httpx2
import pytest

from product_extractor.sandbox import RunningShop, running_shop
from product_extractor.sandbox.body_faults import (
    INVALID_UTF8,
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

TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"  # JSON-LD Product, UTF-8
TENT_PATH = "/www.sample-outdoor.example/products/ridgeline-2-tent"
JSONLD = re.compile(rb"<script[^>]*ld\+json[^>]*>(.*?)</script>", re.DOTALL)


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop() as running:
        yield running


@pytest.fixture
def client(shop: RunningShop) -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as http:
        yield http
    shop.clear_faults()


@pytest.fixture(scope="module")
def tent_page(shop: RunningShop) -> bytes:
    return httpx2.get(shop.url_for(TENT)).content


def test_status_burst_restarts_when_set(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(TENT_PATH, status=502, burst=1)
    assert client.get(shop.url_for(TENT)).status_code == 502
    assert client.get(shop.url_for(TENT)).status_code == 200
    shop.set_fault(TENT_PATH, status=502, burst=1)
    assert client.get(shop.url_for(TENT)).status_code == 502


def test_burst_needs_status() -> None:
    with running_shop() as shop, pytest.raises(ValueError, match="burst=2 is invalid"):
        shop.set_fault(TENT_PATH, burst=2)


def test_latency_spike_times_out(shop: RunningShop) -> None:
    shop.set_fault(TENT_PATH, spike_rate=1.0, spike_s=5.0)
    try:
        with httpx2.Client(timeout=0.5) as impatient, pytest.raises(httpx2.ReadTimeout):
            impatient.get(shop.url_for(TENT))
    finally:
        shop.clear_faults()


def test_truncated_body_breaks_off(shop: RunningShop, client: httpx2.Client, tent_page: bytes) -> None:
    shop.set_fault(TENT_PATH, body=Truncated(fraction=0.5))
    with client.stream("GET", shop.url_for(TENT)) as response:
        assert response.headers["content-length"] == str(len(tent_page))
        assert response.headers["x-sandbox-fault"] == "truncated"
        with pytest.raises(httpx2.RemoteProtocolError):
            response.read()


def test_connection_reset_breaks_chunked_body(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(TENT_PATH, body=ConnectionReset(after_bytes=100))
    with client.stream("GET", shop.url_for(TENT)) as response:
        assert "content-length" not in response.headers
        with pytest.raises(httpx2.RemoteProtocolError):
            response.read()


def test_trickle_sends_one_byte_at_a_time(shop: RunningShop, client: httpx2.Client, tent_page: bytes) -> None:
    shop.set_fault(TENT_PATH, body=Trickle(interval_s=0.01))
    with client.stream("GET", shop.url_for(TENT)) as response:
        assert response.headers["content-length"] == str(len(tent_page))
        first = []
        for chunk in response.iter_raw():
            first.append(chunk)
            if len(first) == 3:
                break
    assert first == [tent_page[0:1], tent_page[1:2], tent_page[2:3]]


@pytest.mark.parametrize("content_type", ["image/png", "application/json"])
def test_wrong_content_type_keeps_html(
    shop: RunningShop, client: httpx2.Client, tent_page: bytes, content_type: str
) -> None:
    shop.set_fault(TENT_PATH, body=WrongContentType(content_type))
    response = client.get(shop.url_for(TENT))
    assert response.headers["content-type"] == content_type
    assert response.content == tent_page


def test_redirect_loop_points_to_itself(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(TENT_PATH, body=RedirectLoop())
    url = shop.url_for(TENT)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["location"] == url


def test_huge_page_announces_its_size(shop: RunningShop, client: httpx2.Client, tent_page: bytes) -> None:
    shop.set_fault(TENT_PATH, body=HugePage(extra_bytes=5_000_000))
    response = client.get(shop.url_for(TENT))
    assert response.headers["content-length"] == str(len(tent_page) + 5_000_000)
    assert len(response.content) == len(tent_page) + 5_000_000
    assert response.content.startswith(tent_page)


def test_huge_page_can_stream_chunked(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(TENT_PATH, body=HugePage(extra_bytes=64 * 1024 * 1024, declare_length=False))
    with client.stream("GET", shop.url_for(TENT)) as response:
        assert "content-length" not in response.headers
        received = 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 1_000_000:
                break
    assert received > 1_000_000


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compression_bomb_decodes_to_page(
    shop: RunningShop, client: httpx2.Client, tent_page: bytes, coding: str
) -> None:
    shop.set_fault(TENT_PATH, body=CompressionBomb(coding=coding))  # type: ignore[arg-type]
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS)
    expected_length = len(tent_page) + 100_000
    decoded = b""
    with client.stream("GET", shop.url_for(TENT)) as response:
        assert response.headers["content-encoding"] == coding
        for chunk in response.iter_raw():
            decoded += decompressor.decompress(chunk, expected_length - len(decoded))
            if len(decoded) >= expected_length:
                break
    assert decoded.startswith(tent_page)
    assert decoded[len(tent_page) :].strip(b" ") == b""


def test_malformed_json_ld_fails_to_parse(shop: RunningShop, client: httpx2.Client, tent_page: bytes) -> None:
    shop.set_fault(TENT_PATH, body=MalformedJsonLd())
    blocks = JSONLD.findall(client.get(shop.url_for(TENT)).content)
    assert len(blocks) == len(JSONLD.findall(tent_page)) >= 1
    for block in blocks:
        with pytest.raises(json.JSONDecodeError):
            json.loads(block)


def test_invalid_utf8_keeps_declared_charset(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(TENT_PATH, body=InvalidUtf8())
    response = client.get(shop.url_for(TENT))
    assert "utf-8" in response.headers["content-type"]
    assert INVALID_UTF8 in response.content
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")


def test_deep_nesting_wraps_body(shop: RunningShop, client: httpx2.Client, tent_page: bytes) -> None:
    shop.set_fault(TENT_PATH, body=DeepNesting(depth=1000))
    body = client.get(shop.url_for(TENT)).content
    assert b"<div>" * 1000 in body
    assert b"</div>" * 1000 + b"</body>" in body
    assert len(body) == len(tent_page) + 11 * 1000


def test_body_fault_spares_other_paths(shop: RunningShop, client: httpx2.Client, tent_page: bytes) -> None:
    shop.set_fault(TENT_PATH, body=WrongContentType())
    other = client.get(shop.url_for("https://www.sample-outdoor.example/products/summit-down-bag"))
    assert other.headers["content-type"].startswith("text/html")
    assert "x-sandbox-fault" not in other.headers

"""URL safety in the direct fetcher and the tool: rejected URLs never reach a transport or a connection.

Every connection goes through a connector that fails the test unless it is to
127.0.0.1, and host names resolve through a table in the test, so no request
can leave this machine whatever the code under test does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpcore2
import httpx2
import pytest
import trustme
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server import backends
from product_extractor.server.app import create_server
from product_extractor.web.direct import DirectFetcher
from product_extractor.web.fetcher import ConnectFailed
from product_extractor.web.robots import RobotsOptions
from product_extractor.web.url_safety import AllowList, UnsafeURL, UrlPolicy
from tests.conftest import sandbox_settings
from tests.local_server import TLSFiles, serve_app

pytestmark = pytest.mark.anyio

NO_ROBOTS = RobotsOptions(enabled=False)


class RecordingConnector(httpcore2.AsyncNetworkBackend):
    """A TCP connector that records each attempt, then acts by `mode`.

    "fail" fails the test. "loopback" connects to 127.0.0.1 and fails the test
    for any other address. "refuse" fails the attempt as a refused connection.
    """

    def __init__(self, mode: Literal["fail", "loopback", "refuse"]) -> None:
        self.mode = mode
        self.attempts: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        self.attempts.append((host, port))
        if self.mode == "refuse":
            raise httpcore2.ConnectError("connection refused by the test connector")
        if self.mode == "loopback" and host == "127.0.0.1":
            real = httpcore2.AnyIOBackend()
            return await real.connect_tcp(host, port, timeout=timeout, socket_options=socket_options)
        raise AssertionError(f"the fetcher tried to connect to {host}:{port}")


class TableResolver:
    """Resolves host names from a table, records each lookup, and fails the test for other names."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.table:
            raise AssertionError(f"the fetcher tried to resolve {host}")
        return self.table[host]


def failing_transport(calls: list[str]) -> httpx2.MockTransport:
    def handle(request: httpx2.Request) -> httpx2.Response:
        calls.append(str(request.url))
        raise AssertionError(f"the fetcher sent a request to {request.url}")

    return httpx2.MockTransport(handle)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1/admin", "loopback"),
        ("http://0x7f.1/admin", "written 0x7f.1"),
        ("http://2130706433/", "written 2130706433"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:192.168.0.1]/", "IPv4-mapped form of 192.168.0.1"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 form of 169.254.169.254"),
        ("http://user:secret@shop.example/", "credentials"),
        ("ftp://shop.example/catalogue", "scheme 'ftp'"),
        ("http://shop.example:6379/", "port 6379"),
    ],
)
async def test_rejected_url_never_sent(url: str, expected: str) -> None:
    calls: list[str] = []
    fetcher = DirectFetcher(transport=failing_transport(calls))
    try:
        with pytest.raises(UnsafeURL) as raised:
            await fetcher.fetch(url)
    finally:
        await fetcher.aclose()

    assert expected in str(raised.value)
    assert raised.value.requests == 0
    assert calls == []


async def test_name_resolving_to_mix_rejected() -> None:
    resolver = TableResolver({"shop.example": ["93.184.215.14", "10.0.0.7"]})
    connector = RecordingConnector("fail")
    fetcher = DirectFetcher(robots=NO_ROBOTS, resolver=resolver, connector=connector)
    try:
        with pytest.raises(UnsafeURL) as raised:
            await fetcher.fetch("https://shop.example/p/1")
    finally:
        await fetcher.aclose()

    message = str(raised.value)
    assert "https://shop.example/p/1 was not fetched" in message
    assert "shop.example resolves to 10.0.0.7, a private address" in message
    assert raised.value.requests == 0
    assert resolver.lookups == [("shop.example", 443)]
    assert connector.attempts == []


async def test_connects_to_checked_address_only() -> None:
    resolver = TableResolver({"shop.example": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    connector = RecordingConnector("refuse")
    fetcher = DirectFetcher(robots=NO_ROBOTS, resolver=resolver, connector=connector)
    try:
        with pytest.raises(ConnectFailed, match="connection refused by the test connector"):
            await fetcher.fetch("https://shop.example/p/1")
    finally:
        await fetcher.aclose()

    # One lookup, then connections by number to each checked address in turn.
    assert resolver.lookups == [("shop.example", 443)]
    assert connector.attempts == [("93.184.215.14", 443), ("2606:2800:21f:cb07::1", 443)]


async def to_private(_request: Request) -> Response:
    return Response(status_code=302, headers={"location": "http://10.0.0.1/admin"})


async def to_metadata(_request: Request) -> Response:
    return Response(status_code=301, headers={"location": "http://169.254.169.254/latest/meta-data/"})


async def to_internal_name(_request: Request) -> Response:
    return Response(status_code=307, headers={"location": "http://internal.example/"})


async def to_short_loopback(_request: Request) -> Response:
    return Response(status_code=302, headers={"location": "http://127.2/"})


async def to_other_port(request: Request) -> Response:
    return Response(status_code=302, headers={"location": "http://shop.example:8080/"})


async def echo_host(request: Request) -> Response:
    host = request.headers.get("host", "")
    return Response(f"<html><body>Host: {host}</body></html>", media_type="text/html")


REDIRECTS = Starlette(
    routes=[
        Route("/to-private", to_private),
        Route("/to-metadata", to_metadata),
        Route("/to-internal-name", to_internal_name),
        Route("/to-short-loopback", to_short_loopback),
        Route("/to-other-port", to_other_port),
        Route("/host", echo_host),
    ]
)


@pytest.fixture(scope="module")
def redirect_server() -> Iterator[str]:
    with serve_app(REDIRECTS) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "target", "expected"),
    [
        ("/to-private", "http://10.0.0.1/admin", "10.0.0.1 is a private address"),
        ("/to-metadata", "http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("/to-internal-name", "http://internal.example/", "internal.example resolves to 192.168.1.5"),
        ("/to-short-loopback", "http://127.2/", "127.0.0.2 (written 127.2) is a loopback"),
        ("/to-other-port", "http://shop.example:8080/", "port 8080"),
    ],
)
async def test_redirect_to_unsafe_target_rejected(
    redirect_server: str, path: str, target: str, expected: str
) -> None:
    resolver = TableResolver({"127.0.0.1": ["127.0.0.1"], "internal.example": ["192.168.1.5"]})
    connector = RecordingConnector("loopback")
    fetcher = DirectFetcher(
        policy=UrlPolicy(AllowList.parse("127.0.0.1")), resolver=resolver, connector=connector
    )
    try:
        with pytest.raises(UnsafeURL) as raised:
            await fetcher.fetch(redirect_server + path)
    finally:
        await fetcher.aclose()

    message = str(raised.value)
    assert f"{redirect_server}{path} redirected to {target}, which was not fetched" in message
    assert expected in message
    assert raised.value.requests == 1
    assert {host for host, _port in connector.attempts} == {"127.0.0.1"}


async def test_allowed_name_keeps_host_header(redirect_server: str) -> None:
    port = httpx2.URL(redirect_server).port
    resolver = TableResolver({"shop.internal": ["127.0.0.1"]})
    connector = RecordingConnector("loopback")
    fetcher = DirectFetcher(
        policy=UrlPolicy(AllowList.parse("shop.internal")),
        robots=NO_ROBOTS,
        resolver=resolver,
        connector=connector,
    )
    try:
        page = await fetcher.fetch(f"http://shop.internal:{port}/host")
    finally:
        await fetcher.aclose()

    assert f"Host: shop.internal:{port}" in page.text
    assert connector.attempts == [("127.0.0.1", port)]


async def test_default_policy_rejects_loopback_name(redirect_server: str) -> None:
    port = httpx2.URL(redirect_server).port
    resolver = TableResolver({"localhost": ["::1", "127.0.0.1"]})
    connector = RecordingConnector("fail")
    fetcher = DirectFetcher(robots=NO_ROBOTS, resolver=resolver, connector=connector)
    try:
        with pytest.raises(UnsafeURL, match="port"):
            await fetcher.fetch(f"http://localhost:{port}/host")
        with pytest.raises(UnsafeURL, match="localhost resolves to ::1, a loopback address"):
            await fetcher.fetch("http://localhost/host")
    finally:
        await fetcher.aclose()

    assert connector.attempts == []


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate for shop.internal only, and its CA's PEM file."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("shop.internal")
    authority_file = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(authority_file))
    certfile, keyfile = folder / "server.pem", folder / "server.key"
    certificate.cert_chain_pems[0].write_to_path(str(certfile))
    certificate.private_key_pem.write_to_path(str(keyfile))
    with serve_app(REDIRECTS, certificate=TLSFiles(str(certfile), str(keyfile))) as url:
        yield url, authority_file


async def test_tls_verifies_host_name(tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, authority_file = tls_server
    port = httpx2.URL(url).port
    monkeypatch.setenv("SSL_CERT_FILE", str(authority_file))  # read when the fetcher builds its TLS context
    resolver = TableResolver({"shop.internal": ["127.0.0.1"], "127.0.0.1": ["127.0.0.1"]})
    connector = RecordingConnector("loopback")
    fetcher = DirectFetcher(
        policy=UrlPolicy(AllowList.parse("shop.internal, 127.0.0.1")),
        robots=NO_ROBOTS,
        resolver=resolver,
        connector=connector,
    )
    try:
        page = await fetcher.fetch(f"https://shop.internal:{port}/host")
        # The same server by address: the certificate names shop.internal, so TLS must fail.
        with pytest.raises(ConnectFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await fetcher.fetch(f"https://127.0.0.1:{port}/host")
    finally:
        await fetcher.aclose()

    assert f"Host: shop.internal:{port}" in page.text
    assert {host for host, _port in connector.attempts} == {"127.0.0.1"}


# The tool: a rejected URL next to good ones


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR) as running:
        yield running


async def test_tool_rejects_unsafe_url_only(shop: RunningShop, monkeypatch: pytest.MonkeyPatch) -> None:
    connector = RecordingConnector("loopback")
    opened = functools.partial(backends.open_direct_fetcher, connector=connector)
    monkeypatch.setattr(backends, "open_direct_fetcher", opened)
    category = shop.index()["sites"][0]["category_url"]
    unsafe = ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/catalogue", "http://[fe80::1]/"]

    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", {"urls": [category, *unsafe]})

    assert result.structured_content is not None
    entries: dict[str, Any] = {entry["url"]: entry for entry in result.structured_content["url_results"]}
    assert entries[category]["status"] == "ok"
    assert entries[category]["products_found"] > 0
    assert len(result.structured_content["products"]) == entries[category]["products_found"]
    assert entries["http://169.254.169.254/latest/meta-data/"]["status"] == "failed"
    assert "cloud metadata" in entries["http://169.254.169.254/latest/meta-data/"]["error"]
    assert "private address" in entries["http://10.0.0.1/catalogue"]["error"]
    assert "link-local" in entries["http://[fe80::1]/"]["error"]
    assert {host for host, _port in connector.attempts} == {"127.0.0.1"}

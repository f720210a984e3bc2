"""The direct fetcher against a real HTTP server on 127.0.0.1: redirects, limits, charsets, content types."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from product_extractor.web.direct import DirectFetcher, FetchLimits
from product_extractor.web.fetcher import (
    ConnectFailed,
    FetchTimeout,
    HTTPStatusError,
    NotHTML,
    Page,
    TooLarge,
    TooManyRedirects,
)
from product_extractor.web.url_safety import AllowList, UrlPolicy
from tests.conftest import SANDBOX_ALLOW_HOSTS
from tests.local_server import serve_app

HTML = "<!doctype html><html><head><title>Ok</title></head><body><h1>Grüße</h1></body></html>"


async def html(_request: Request) -> Response:
    return Response(HTML, media_type="text/html")


async def latin1(_request: Request) -> Response:
    body = '<html><head><meta charset="iso-8859-1"></head><body>Grüße 9,99 €</body></html>'
    return Response(body.encode("cp1252"), headers={"content-type": "text/html"})


async def header_charset(_request: Request) -> Response:
    body = "<html><body>Žluťoučký kůň</body></html>"
    return Response(body.encode("cp1250"), headers={"content-type": "text/html; charset=windows-1250"})


async def no_content_type(_request: Request) -> Response:
    response = Response(HTML.encode())
    del response.headers["content-type"]
    return response


async def json_body(_request: Request) -> Response:
    return Response('{"a": 1}', media_type="application/json")


async def redirect(request: Request) -> Response:
    hops = int(request.path_params["hops"])
    target = "/html" if hops == 0 else f"/redirect/{hops - 1}"
    return Response(status_code=302, headers={"location": target})


async def loop(_request: Request) -> Response:
    return Response(status_code=301, headers={"location": "/loop"})


async def missing(_request: Request) -> Response:
    return Response("<html>gone</html>", status_code=404, media_type="text/html")


async def huge(_request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"<p>" + b"x" * 16 * 1024 + b"</p>"

    return StreamingResponse(chunks(), media_type="text/html")


async def gzipped(_request: Request) -> Response:
    return Response(
        gzip.compress(HTML.encode()), headers={"content-type": "text/html", "content-encoding": "gzip"}
    )


async def slow(_request: Request) -> Response:
    await asyncio.sleep(2)
    return Response(HTML, media_type="text/html")


async def echo_headers(request: Request) -> Response:
    agent = request.headers.get("user-agent", "")
    return Response(f"<html><body>{agent}</body></html>", media_type="text/html")


APP = Starlette(
    routes=[
        Route("/html", html),
        Route("/latin1", latin1),
        Route("/cp1250", header_charset),
        Route("/untyped", no_content_type),
        Route("/json", json_body),
        Route("/redirect/{hops}", redirect),
        Route("/loop", loop),
        Route("/missing", missing),
        Route("/huge", huge),
        Route("/gzip", gzipped),
        Route("/slow", slow),
        Route("/headers", echo_headers),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(APP) as url:
        yield url


async def fetch(url: str, limits: FetchLimits | None = None) -> Page:
    fetcher = DirectFetcher(limits, policy=UrlPolicy(AllowList.parse(SANDBOX_ALLOW_HOSTS)))
    try:
        return await fetcher.fetch(url)
    finally:
        await fetcher.aclose()


@pytest.mark.anyio
async def test_fetch_html_page(base_url: str) -> None:
    page = await fetch(f"{base_url}/html")
    assert page.status == 200
    assert "Grüße" in page.text
    assert page.requests == 1


@pytest.mark.anyio
async def test_charset_from_meta_tag(base_url: str) -> None:
    page = await fetch(f"{base_url}/latin1")
    assert "Grüße 9,99 €" in page.text


@pytest.mark.anyio
async def test_charset_from_header(base_url: str) -> None:
    page = await fetch(f"{base_url}/cp1250")
    assert "Žluťoučký kůň" in page.text


@pytest.mark.anyio
async def test_untyped_html_accepted(base_url: str) -> None:
    page = await fetch(f"{base_url}/untyped")
    assert "<h1>" in page.text


@pytest.mark.anyio
async def test_json_rejected_as_not_html(base_url: str) -> None:
    with pytest.raises(NotHTML, match="application/json, not an HTML page"):
        await fetch(f"{base_url}/json")


@pytest.mark.anyio
async def test_redirects_followed_and_counted(base_url: str) -> None:
    page = await fetch(f"{base_url}/redirect/3")
    assert page.url == f"{base_url}/html"
    assert page.requests == 5
    assert len(page.redirects) == 4


@pytest.mark.anyio
async def test_redirect_loop_stops_at_limit(base_url: str) -> None:
    with pytest.raises(TooManyRedirects, match="more than 5 times") as raised:
        await fetch(f"{base_url}/loop")
    assert raised.value.requests == 6


@pytest.mark.anyio
async def test_not_found_is_status_error(base_url: str) -> None:
    with pytest.raises(HTTPStatusError, match="HTTP 404") as raised:
        await fetch(f"{base_url}/missing")
    assert raised.value.status == 404


@pytest.mark.anyio
async def test_size_cap_enforced_while_streaming(base_url: str) -> None:
    with pytest.raises(TooLarge, match=r"larger than the 0\.25 MB page limit"):
        await fetch(f"{base_url}/huge", FetchLimits(max_bytes=256 * 1024))


@pytest.mark.anyio
async def test_gzip_body_decoded(base_url: str) -> None:
    page = await fetch(f"{base_url}/gzip")
    assert "Grüße" in page.text


@pytest.mark.anyio
async def test_request_timeout_names_url(base_url: str) -> None:
    with pytest.raises(FetchTimeout, match=r"/slow timed out after 0\.3 s"):
        await fetch(f"{base_url}/slow", FetchLimits(request_timeout_s=0.3))


@pytest.mark.anyio
async def test_browser_user_agent_sent(base_url: str) -> None:
    page = await fetch(f"{base_url}/headers")
    assert "Mozilla/5.0" in page.text


@pytest.mark.anyio
async def test_refused_connection_is_connect_failed(base_url: str) -> None:
    with serve_app(APP) as closed_url:
        pass
    with pytest.raises(ConnectFailed, match="could not be fetched"):
        await fetch(f"{closed_url}/html")

"""Bounded response bodies: size caps on raw and decoded bytes, compression bombs, codings, slow bodies."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from product_extractor.brightdata.unlocker import UnlockerConfig, WebUnlockerFetcher
from product_extractor.sandbox.body_faults import compression_bomb_chunks
from product_extractor.web.decoding import MAX_PIECE_BYTES, BodyDecoder, ContentDecodingError
from product_extractor.web.direct import DirectFetcher, FetchLimits
from product_extractor.web.fetcher import ConnectFailed, FetchTimeout, Page, TooLarge
from product_extractor.web.robots import RobotsOptions
from tests.conftest import sandbox_policy
from tests.local_server import serve_app

pytestmark = pytest.mark.anyio

HTML = b"<!doctype html><html><head><title>Lamp</title></head><body><h1>Lamp</h1></body></html>"
GIB = 1024 * 1024 * 1024
CAP = 1024 * 1024  # the page limit every fetch here runs with


# These tests count the bytes and requests of one page, so no robots.txt request may add to them.
NO_ROBOTS = RobotsOptions(enabled=False)


async def _stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await anyio.lowlevel.checkpoint()  # lets the server notice a client that hung up
        yield chunk


def _bomb(coding: str) -> StreamingResponse:
    return StreamingResponse(
        _stream(compression_bomb_chunks(HTML, GIB, coding)),
        headers={"content-type": "text/html", "content-encoding": coding},
    )


async def gzip_bomb(_request: Request) -> Response:
    return _bomb("gzip")


async def deflate_bomb(_request: Request) -> Response:
    return _bomb("deflate")


async def raw_deflate_bomb(_request: Request) -> Response:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)

    def chunks() -> Iterator[bytes]:
        yield compressor.compress(HTML)
        for _ in range(1024):
            yield compressor.compress(b" " * 1024 * 1024)

    return StreamingResponse(
        _stream(chunks()), headers={"content-type": "text/html", "content-encoding": "deflate"}
    )


async def raw_deflate(_request: Request) -> Response:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(HTML) + compressor.flush()
    return Response(body, headers={"content-type": "text/html", "content-encoding": "deflate"})


async def double_gzip(_request: Request) -> Response:
    body = gzip.compress(gzip.compress(HTML))
    return Response(body, headers={"content-type": "text/html", "content-encoding": "gzip, gzip"})


async def trailing_garbage(_request: Request) -> Response:
    # A small valid gzip stream followed by endless bytes that decode to nothing.
    def chunks() -> Iterator[bytes]:
        yield gzip.compress(HTML)
        while True:
            yield b"\x00" * 64 * 1024

    return StreamingResponse(
        _stream(chunks()), headers={"content-type": "text/html", "content-encoding": "gzip"}
    )


async def announced_huge(_request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield HTML
        while True:
            await anyio.sleep(1)  # never needed: the fetcher must stop at the headers
            yield b" "

    return StreamingResponse(
        chunks(), headers={"content-type": "text/html", "content-length": str(100 * CAP)}
    )


async def brotli(_request: Request) -> Response:
    return Response(b"\x1b\x00\x00", headers={"content-type": "text/html", "content-encoding": "br"})


async def corrupt_gzip(_request: Request) -> Response:
    body = gzip.compress(HTML)
    body = body[:10] + b"\xff" * 20 + body[30:]
    return Response(body, headers={"content-type": "text/html", "content-encoding": "gzip"})


async def trickle(_request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for byte in HTML:
            await anyio.sleep(0.05)
            yield bytes([byte])

    return StreamingResponse(
        chunks(), headers={"content-type": "text/html", "content-length": str(len(HTML))}
    )


class _Truncated:
    """Announce the whole page, send half of it, and return, which makes uvicorn close the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-length", str(len(HTML)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": HTML[: len(HTML) // 2], "more_body": True})


APP = Starlette(
    routes=[
        Route("/gzip-bomb", gzip_bomb),
        Route("/deflate-bomb", deflate_bomb),
        Route("/raw-deflate-bomb", raw_deflate_bomb),
        Route("/raw-deflate", raw_deflate),
        Route("/double-gzip", double_gzip),
        Route("/trailing-garbage", trailing_garbage),
        Route("/announced-huge", announced_huge),
        Route("/brotli", brotli),
        Route("/corrupt-gzip", corrupt_gzip),
        Route("/trickle", trickle),
        # The Web Unlocker's endpoint, which responds to every page request with a trickling body.
        Route("/request", trickle, methods=["POST"]),
        Route("/truncated", _Truncated()),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(APP) as url:
        yield url


async def fetch(url: str, *, body_timeout_s: float = 60.0) -> Page:
    fetcher = DirectFetcher(
        FetchLimits(max_bytes=CAP, body_timeout_s=body_timeout_s), policy=sandbox_policy(), robots=NO_ROBOTS
    )
    try:
        return await fetcher.fetch(url)
    finally:
        await fetcher.aclose()


def received_bytes(message: str) -> int:
    found = re.search(r"from only (\d+) bytes received", message)
    assert found is not None, message
    return int(found.group(1))


@pytest.mark.parametrize("path", ["/gzip-bomb", "/deflate-bomb", "/raw-deflate-bomb"])
async def test_compression_bomb_stops_early(base_url: str, path: str) -> None:
    with pytest.raises(TooLarge, match="decompresses to more than the 1 MB page limit") as raised:
        await fetch(base_url + path)
    # 1 MB of spaces compresses to about 1 KB; httpx2 reads up to 64 KiB at a time.
    assert received_bytes(str(raised.value)) < 256 * 1024


async def test_raw_deflate_decoded(base_url: str) -> None:
    page = await fetch(f"{base_url}/raw-deflate")
    assert "<h1>Lamp</h1>" in page.text


async def test_stacked_codings_decoded(base_url: str) -> None:
    page = await fetch(f"{base_url}/double-gzip")
    assert "<h1>Lamp</h1>" in page.text


async def test_raw_bytes_capped_without_output(base_url: str) -> None:
    with pytest.raises(TooLarge, match="is larger than the 1 MB page limit"):
        await fetch(f"{base_url}/trailing-garbage")


async def test_announced_size_fails_at_headers(base_url: str) -> None:
    with pytest.raises(TooLarge, match=r"announces 104857600 bytes \(Content-Length\)"):
        await fetch(f"{base_url}/announced-huge")


async def test_unsupported_coding_named(base_url: str) -> None:
    with pytest.raises(ContentDecodingError, match="Content-Encoding br, which this fetcher cannot decode"):
        await fetch(f"{base_url}/brotli")


async def test_corrupt_gzip_reported(base_url: str) -> None:
    with pytest.raises(ContentDecodingError, match="gzip data is corrupt"):
        await fetch(f"{base_url}/corrupt-gzip")


async def test_trickling_body_cut_by_body_timeout(base_url: str) -> None:
    with pytest.raises(FetchTimeout, match="sent its body too slowly") as raised:
        await fetch(f"{base_url}/trickle", body_timeout_s=0.5)
    assert "at most 0.5 s" in str(raised.value)


async def test_unlocker_body_cut_by_body_timeout(base_url: str) -> None:
    config = UnlockerConfig(token=SecretStr("body-timeout-token"), base_url=base_url, body_timeout_s=0.5)
    unlocker = WebUnlockerFetcher(config)
    try:
        with pytest.raises(FetchTimeout, match="sent its body too slowly") as raised:
            await unlocker.fetch("https://www.sample-books.example/book/the-quiet-orchard")
    finally:
        await unlocker.aclose()
    assert "at most 0.5 s" in str(raised.value)
    assert raised.value.billed_requests == 1


async def test_truncated_body_reported_incomplete(base_url: str) -> None:
    with pytest.raises(ConnectFailed, match=rf"after {len(HTML) // 2} of the {len(HTML)} announced bytes"):
        await fetch(f"{base_url}/truncated")


def test_decoder_pieces_stay_small() -> None:
    compressed = b"".join(compression_bomb_chunks(b"", 16 * 1024 * 1024, "gzip"))
    decoder = BodyDecoder(["gzip"])
    sizes = [len(piece) for piece in decoder.decode(compressed)]
    assert sum(sizes) == 16 * 1024 * 1024
    assert max(sizes) <= MAX_PIECE_BYTES


def test_decoder_ignores_data_after_end() -> None:
    decoder = BodyDecoder(["gzip"])
    decoded = b"".join(decoder.decode(gzip.compress(HTML) + b"trailing bytes"))
    assert decoded == HTML

"""Broken responses the sandbox shop serves in place of a page, to test how a client survives them.

| fault | response |
| --- | --- |
| `trickle` | the page, one byte every `TRICKLE_INTERVAL_S` seconds, so no single read times out |
| `truncated` | headers that promise the whole page, half the body, then the connection closes |
| `reset` | the status and headers, then the connection closes before any body |
| `wrong-content-type` | the page's bytes as `application/octet-stream` |
| `redirect-loop` | a 302 to the same path, forever |
| `huge` | a valid HTML page of `HUGE_PAGE_BYTES`, streamed |
| `gzip-bomb` | `GZIP_BOMB_BYTES` of HTML, gzip-compressed to about a thousandth of that |
| `invalid-utf8` | HTML declared UTF-8 with invalid byte sequences in its text and structured data |
| `malformed-json-ld` | a product page whose JSON-LD is broken JSON; the product is in the visible HTML |
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Literal, get_args

from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

BodyFault = Literal[
    "trickle",
    "truncated",
    "reset",
    "wrong-content-type",
    "redirect-loop",
    "huge",
    "gzip-bomb",
    "invalid-utf8",
    "malformed-json-ld",
]
BODY_FAULTS: tuple[str, ...] = get_args(BodyFault)

TRICKLE_INTERVAL_S = 0.05
HUGE_PAGE_BYTES = 12 * 1024 * 1024  # above the direct fetcher's default 10 MB page cap
GZIP_BOMB_BYTES = 64 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024

# Sleeps `seconds` and returns False once the server is stopping (the shop's InjectedDelays.wait).
Sleep = Callable[[float], Awaitable[bool]]


def body_fault_response(fault: BodyFault, page: bytes | None, path: str, sleep: Sleep) -> Response:
    """Return the broken response for `fault`; `page` is the saved page's bytes, or None when it has none."""
    if fault == "redirect-loop":
        return Response(status_code=302, headers={"Location": path})
    if fault == "huge":
        return StreamingResponse(_huge_page(), media_type="text/html; charset=utf-8")
    if fault == "gzip-bomb":
        return Response(
            _gzip_bomb(),
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
        )
    if fault == "invalid-utf8":
        return Response(_invalid_utf8_page(), media_type="text/html; charset=utf-8")
    if fault == "malformed-json-ld":
        return HTMLResponse(MALFORMED_JSON_LD_PAGE)

    body = page if page is not None else b"<!DOCTYPE html><title>Sandbox</title><p>No saved page here.</p>"
    if fault == "trickle":
        return StreamingResponse(_trickle(body, sleep), media_type="text/html")
    if fault == "wrong-content-type":
        return Response(body, media_type="application/octet-stream")
    if fault == "truncated":
        return _BrokenResponse(body, send_bytes=len(body) // 2)
    return _BrokenResponse(body, send_bytes=0)


async def _trickle(body: bytes, sleep: Sleep) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        if not await sleep(TRICKLE_INTERVAL_S):
            return
        yield body[index : index + 1]


async def _huge_page() -> AsyncIterator[bytes]:
    yield b"<!DOCTYPE html><html><head><title>Huge</title></head><body>"
    filler = b"<p>" + b"x" * (_CHUNK_BYTES - 7) + b"</p>"
    for _ in range(HUGE_PAGE_BYTES // len(filler) + 1):
        yield filler
    yield b"</body></html>"


@cache
def _gzip_bomb() -> bytes:
    """Return GZIP_BOMB_BYTES of HTML compressed with gzip; built once, about 64 KB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    parts = [compressor.compress(b"<!DOCTYPE html><html><body><p>")]
    zeros = b"0" * (1024 * 1024)
    for _ in range(GZIP_BOMB_BYTES // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.compress(b"</p></body></html>"))
    parts.append(compressor.flush())
    return b"".join(parts)


def _invalid_utf8_page() -> bytes:
    data = b'{"@context": "https://schema.org", "@type": "Product", "name": "Lamp \xff\xfe", '
    data += b'"offers": {"@type": "Offer", "price": "19.90", "priceCurrency": "EUR"}}'
    return (
        b"<!DOCTYPE html><html><head><meta charset=utf-8><title>Lamp \xc3\x28 \xed\xa0\x80</title>"
        b'<script type="application/ld+json">' + data + b"</script></head>"
        b"<body><h1>Lamp \xf0\x28\x8c\x28</h1><p>19,90 \xe2\x82 EUR</p></body></html>"
    )


MALFORMED_JSON_LD_PAGE = """<!DOCTYPE html><html><head><title>Desk lamp</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product", "name": "Desk lamp",
"offers": {"@type": "Offer", "price": 24.50, "priceCurrency": "EUR",}</script>
<script type="application/ld+json">{"@type": "Product", "name": "Desk lamp" "sku": </script>
<script type="application/ld+json">[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[</script>
</head><body><h1>Desk lamp</h1><p class="price">24,50 €</p></body></html>"""


class _BrokenResponse(Response):
    """A response that promises `body` in full but sends only its first `send_bytes` bytes, then fails.

    Raising after the headers makes uvicorn close the connection without ending
    the response, which a client sees as a broken connection.
    """

    def __init__(self, body: bytes, *, send_bytes: int) -> None:
        super().__init__(body, media_type="text/html")
        self._send_bytes = send_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self._send_bytes:
            await send(
                {"type": "http.response.body", "body": self.body[: self._send_bytes], "more_body": True}
            )
        raise ConnectionAbortedError("the sandbox shop broke off the response on purpose")

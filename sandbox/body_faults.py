"""Faults in how the sandbox shop sends a page: slow, cut off, mislabelled, oversized or damaged bodies.

Set one per host or path prefix with `RunningShop.set_fault(target, body=...)`.
The shop builds the page it would serve, and `fault_response` turns it into
the faulty response, with an `X-Sandbox-Fault` header naming the fault.
Bodies that would be large (huge pages, compression bombs) are generated
while they are sent, so a client that stops reading stops the work too.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import anyio.lowlevel
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from product_extractor.sandbox.serving import InjectedDelays

__all__ = [
    "BodyFault",
    "CompressionBomb",
    "ConnectionReset",
    "DeepNesting",
    "HugePage",
    "InvalidUtf8",
    "MalformedJsonLd",
    "RedirectLoop",
    "Trickle",
    "Truncated",
    "WrongContentType",
    "compression_bomb_chunks",
    "fault_response",
    "redirect_loop_response",
]

FAULT_HEADER = "X-Sandbox-Fault"

_CHUNK_BYTES = 64 * 1024
_BODY_TAG = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)
_JSONLD_SCRIPT = re.compile(rb"(<script\b[^>]*ld\+json[^>]*>)(.*?)(</script\s*>)", re.IGNORECASE | re.DOTALL)
# Bytes that no UTF-8 decoder accepts: bytes never used in UTF-8 (FF, FE), a lead byte
# followed by ASCII (C3 28), a sequence cut short (E2 82 followed by a space), and a
# stray continuation byte (80).
INVALID_UTF8 = b"\xff\xfe \xc3\x28 \xe2\x82 \x80"


@dataclass(frozen=True, slots=True)
class Trickle:
    """A body sent one byte every `interval_s` seconds, after a Content-Length for all of it."""

    name: ClassVar[str] = "trickle"
    interval_s: float = 0.05


@dataclass(frozen=True, slots=True)
class Truncated:
    """A body cut off after its first `fraction`, although Content-Length announces all of it."""

    name: ClassVar[str] = "truncated"
    fraction: float = 0.5


@dataclass(frozen=True, slots=True)
class ConnectionReset:
    """A chunked body whose connection closes after its first `after_bytes`."""

    name: ClassVar[str] = "connection-reset"
    after_bytes: int = 2048


@dataclass(frozen=True, slots=True)
class WrongContentType:
    """The page's HTML sent with another Content-Type, such as image/png or application/json."""

    name: ClassVar[str] = "wrong-content-type"
    content_type: str = "image/png"


@dataclass(frozen=True, slots=True)
class RedirectLoop:
    """A 302 redirect back to the requested URL itself, for every request."""

    name: ClassVar[str] = "redirect-loop"


@dataclass(frozen=True, slots=True)
class HugePage:
    """The page followed by `extra_bytes` of white space, sent with a Content-Length or chunked."""

    name: ClassVar[str] = "huge-page"
    extra_bytes: int = 64 * 1024 * 1024
    declare_length: bool = True


@dataclass(frozen=True, slots=True)
class CompressionBomb:
    """The page plus white space, `decoded_bytes` in all, compressed with `coding` as it is sent.

    White space compresses about 1000 to 1 (1 GiB to 1,043,658 bytes of gzip,
    measured with zlib level 9), and the shop compresses only as fast as the
    client reads.
    """

    name: ClassVar[str] = "compression-bomb"
    decoded_bytes: int = 1024 * 1024 * 1024
    coding: Literal["gzip", "deflate"] = "gzip"


@dataclass(frozen=True, slots=True)
class MalformedJsonLd:
    """The page with every JSON-LD block cut in half, so that none of them is valid JSON."""

    name: ClassVar[str] = "malformed-json-ld"


@dataclass(frozen=True, slots=True)
class InvalidUtf8:
    """The page with bytes invalid in UTF-8 inserted after its `<body>` tag, its charset unchanged."""

    name: ClassVar[str] = "invalid-utf-8"


@dataclass(frozen=True, slots=True)
class DeepNesting:
    """The page with its body content wrapped in `depth` nested `<div>` elements."""

    name: ClassVar[str] = "deep-nesting"
    depth: int = 100_000


BodyFault = (
    Trickle
    | Truncated
    | ConnectionReset
    | WrongContentType
    | RedirectLoop
    | HugePage
    | CompressionBomb
    | MalformedJsonLd
    | InvalidUtf8
    | DeepNesting
)


def redirect_loop_response(url: str) -> Response:
    """Return a 302 whose Location is `url` itself."""
    return Response(status_code=302, headers={"Location": url, FAULT_HEADER: RedirectLoop.name})


def fault_response(fault: BodyFault, page: Response, delays: InjectedDelays) -> Response:
    """Return the faulty form of `page`, a complete 200 response the shop would otherwise send."""
    body = bytes(page.body)
    content_type = page.headers.get("content-type", "text/html")
    headers = {"Content-Type": content_type, FAULT_HEADER: fault.name}

    match fault:
        case Trickle(interval_s=interval_s):
            headers["Content-Length"] = str(len(body))
            return StreamingResponse(_trickle(body, interval_s, delays), headers=headers)
        case Truncated(fraction=fraction):
            return _CutOffResponse(body, sent=int(len(body) * fraction), headers=headers, declare_length=True)
        case ConnectionReset(after_bytes=after_bytes):
            return _CutOffResponse(body, sent=after_bytes, headers=headers, declare_length=False)
        case WrongContentType(content_type=wrong_type):
            headers["Content-Type"] = wrong_type
            return Response(body, headers=headers)
        case RedirectLoop():
            raise ValueError("a redirect loop needs no page; respond with redirect_loop_response(url)")
        case HugePage(extra_bytes=extra_bytes, declare_length=declare_length):
            if declare_length:
                headers["Content-Length"] = str(len(body) + extra_bytes)
            return StreamingResponse(_padded(body, extra_bytes), headers=headers)
        case CompressionBomb(decoded_bytes=decoded_bytes, coding=coding):
            headers["Content-Encoding"] = coding
            padding = max(0, decoded_bytes - len(body))
            return StreamingResponse(_async(compression_bomb_chunks(body, padding, coding)), headers=headers)
        case MalformedJsonLd():
            return Response(_JSONLD_SCRIPT.sub(_cut_in_half, body), headers=headers)
        case InvalidUtf8():
            return Response(_after_body_tag(body, b"<p>" + INVALID_UTF8 + b"</p>"), headers=headers)
        case DeepNesting(depth=depth):
            return Response(_nested(body, depth), headers=headers)


def compression_bomb_chunks(prefix: bytes, padding_bytes: int, coding: str) -> Iterator[bytes]:
    """Yield `prefix` and `padding_bytes` spaces compressed with gzip or deflate, compressing as it goes."""
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    yield compressor.compress(prefix)
    block = b" " * (1024 * 1024)
    remaining = padding_bytes
    while remaining > 0:
        piece = block if remaining >= len(block) else block[:remaining]
        remaining -= len(piece)
        compressed = compressor.compress(piece)
        if compressed:
            yield compressed
    yield compressor.flush()


class _CutOffResponse(Response):
    """A 200 that sends only the first `sent` bytes of `body` and then closes the connection."""

    def __init__(self, body: bytes, *, sent: int, headers: dict[str, str], declare_length: bool) -> None:
        super().__init__(body, headers=headers)
        self._sent = body[:sent]
        if not declare_length:
            self.raw_headers = [
                (name, value) for name, value in self.raw_headers if name != b"content-length"
            ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self._sent, "more_body": True})
        # Returning before the last body message makes uvicorn log an error and close the connection.


async def _trickle(body: bytes, interval_s: float, delays: InjectedDelays) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        if not await delays.wait(interval_s):
            return  # the shop is stopping
        yield body[index : index + 1]


async def _padded(body: bytes, extra_bytes: int) -> AsyncIterator[bytes]:
    yield body
    block = b" " * _CHUNK_BYTES
    remaining = extra_bytes
    while remaining > 0:
        piece = block if remaining >= len(block) else block[:remaining]
        remaining -= len(piece)
        # Writing to a fast socket never blocks, so without a checkpoint the loop would not
        # see the client disconnect until the whole padding had been written.
        await anyio.lowlevel.checkpoint()
        yield piece


async def _async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # A synchronous iterator would run in a worker thread; each chunk takes about a millisecond.
    for chunk in chunks:
        await anyio.lowlevel.checkpoint()
        yield chunk


def _cut_in_half(match: re.Match[bytes]) -> bytes:
    content = match.group(2)
    return match.group(1) + content[: len(content) // 2] + match.group(3)


def _after_body_tag(body: bytes, insert: bytes) -> bytes:
    found = _BODY_TAG.search(body)
    position = found.end() if found else 0
    return body[:position] + insert + body[position:]


def _nested(body: bytes, depth: int) -> bytes:
    found = _BODY_TAG.search(body)
    start = found.end() if found else 0
    end = body.lower().rfind(b"</body")
    end = end if end >= start else len(body)
    return body[:start] + b"<div>" * depth + body[start:end] + b"</div>" * depth + body[end:]

"""Undo a response's Content-Encoding one raw chunk at a time, in bounded pieces.

httpx2's own decoders would inflate a body too, but reading raw bytes and
decoding them here lets the fetcher cap the raw and the decoded size
separately, and stop a compression bomb after a few kilobytes of input.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from product_extractor.web.fetcher import FetchError

__all__ = ["ACCEPT_ENCODING", "BodyDecoder", "ContentDecodingError", "DecodeFailed", "body_decoder"]

# The codings the direct fetcher requests, and the only ones `BodyDecoder` undoes.
# NOTE: a client that sends httpx2's default Accept-Encoding also offers br and zstd
# once the brotli or backports.zstd package is installed; such responses fail here.
ACCEPT_ENCODING = "gzip, deflate"

# Largest piece of decoded output produced at once, in bytes. A caller that checks a size
# cap after each piece keeps at most the cap plus this much in memory.
MAX_PIECE_BYTES = 64 * 1024

# Codings applied on top of each other. Servers rarely apply more than one.
MAX_CODINGS = 3

_ZLIB_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,  # gzip header and trailer
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,  # zlib wrapper; raw deflate is tried when that fails
}


class ContentDecodingError(FetchError):
    """The response uses a Content-Encoding the fetcher cannot undo, or its compressed data is corrupt."""


class DecodeFailed(ValueError):
    """A coding's compressed data is corrupt; `str()` is zlib's reason."""


class _ZlibStage:
    """One gzip or deflate layer, inflated in pieces of at most MAX_PIECE_BYTES."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._decompressor = zlib.decompressobj(_ZLIB_WBITS[coding])
        self._produced = False
        self._raw_deflate = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        # Bytes after the end of the compressed stream are ignored, as httpx2's decoders ignore them.
        # The caller still counts them toward its cap on raw bytes.
        if self._decompressor.eof:
            return
        try:
            yield from self._inflate(data)
        except zlib.error as error:
            # Some servers label raw deflate data (no zlib wrapper) as "deflate".
            if self.coding != "deflate" or self._produced or self._raw_deflate:
                raise DecodeFailed(str(error)) from error
            self._raw_deflate = True
            self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
            yield from self.decode(data)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            piece = self._decompressor.decompress(pending, MAX_PIECE_BYTES)
            pending = self._decompressor.unconsumed_tail
            if piece:
                self._produced = True
                yield piece
            # After a full piece, one more call drains output that did not fit in it, even when
            # the input is used up. An empty piece means that zlib needs the next chunk.
            if not piece or self._decompressor.eof:
                return


class BodyDecoder:
    """Undo a list of content codings, in the order the server applied them, chunk by chunk."""

    def __init__(self, codings: list[str]) -> None:
        # The last coding applied is the first one undone.
        self._stages = [_ZlibStage(coding) for coding in reversed(codings)]

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded pieces of one raw chunk; raises DecodeFailed on corrupt data."""
        pieces: Iterable[bytes] = (data,)
        for stage in self._stages:
            pieces = _pipe(stage, pieces)
        yield from pieces


def _pipe(stage: _ZlibStage, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.decode(piece)


def body_decoder(
    url: str, content_encoding: list[str], *, requests: int, billed_requests: int = 0
) -> BodyDecoder:
    """Return a decoder for the Content-Encoding header values of a response to `url`.

    Raises ContentDecodingError for a coding other than gzip and deflate, and
    for more than MAX_CODINGS codings.
    """
    codings = [
        coding.strip().lower()
        for value in content_encoding
        for coding in value.split(",")
        if coding.strip().lower() not in ("", "identity")
    ]
    unsupported = [coding for coding in codings if coding not in _ZLIB_WBITS]
    if unsupported:
        raise ContentDecodingError(
            url,
            f"{url} was sent with Content-Encoding {', '.join(unsupported)}, which this fetcher cannot "
            f"decode (it asks for {ACCEPT_ENCODING}); the server ignored Accept-Encoding, try the "
            "brightdata backend",
            requests=requests,
            billed_requests=billed_requests,
        )
    if len(codings) > MAX_CODINGS:
        raise ContentDecodingError(
            url,
            f"{url} was sent with {len(codings)} content codings ({', '.join(codings)}); at most "
            f"{MAX_CODINGS} are decoded",
            requests=requests,
            billed_requests=billed_requests,
        )
    return BodyDecoder(codings)

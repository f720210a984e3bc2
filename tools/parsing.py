"""Parse a fetched page: check it for pathological nesting, then run `parse_page` off the event loop."""

from __future__ import annotations

import logging

import anyio
import anyio.to_process
from anyio import BrokenWorkerProcess

from product_extractor.products.nesting import PageTooComplex, check_element_depth
from product_extractor.products.parse import ParsedPage, parse_page
from product_extractor.web.charset import decode_html
from product_extractor.web.fetcher import FetchError, Page

__all__ = ["PageRejected", "parse_bounded", "parse_off_loop", "start_parse_workers"]

logger = logging.getLogger(__name__)


class PageRejected(FetchError):
    """A fetched page was not parsed: it nests too deeply, or parsing it ran out of time."""

    def __init__(self, url: str, message: str) -> None:
        # The fetch that brought the page is already counted.
        super().__init__(url, message, requests=0)


def parse_bounded(body: bytes, content_type: str, url: str) -> ParsedPage:
    """Decode and parse a page body fetched from `url`, raising PageTooComplex first when it nests too deeply.

    The decoding happens here, in the worker, so the event loop never spends CPU on it.
    """
    html, _charset = decode_html(body, content_type)
    # NOTE: this check belongs at the start of parse_page, where every caller would get it.
    check_element_depth(html)
    return parse_page(html, url)


async def start_parse_workers(limiter: anyio.CapacityLimiter) -> None:
    """Make sure a parse worker process runs per token of `limiter`, starting the missing ones.

    A worker takes about 0.2 s to start and import the parser. Started beside
    a call's first fetches, it is ready when the first page arrives. Each start
    acquires a token of `limiter`, so the pages and the starts together never
    use more workers than it allows. A worker that fails to start is logged and
    left to the pages, which fail one by one if no worker can run them.

    The starts are shielded from cancellation, so cancelling the call waits for
    them (about 0.2 s at most). anyio 4.16 loses track of a worker whose start
    is cancelled, and such a worker then runs idle until the server exits.
    """

    async def start_one() -> None:
        async with limiter:
            with anyio.CancelScope(shield=True):
                try:
                    await anyio.to_process.run_sync(
                        parse_bounded, b"", "", "about:blank", limiter=anyio.CapacityLimiter(1)
                    )
                except BrokenWorkerProcess as error:
                    logger.warning("a parse worker process failed to start: %s", error)

    async with anyio.create_task_group() as group:
        for _ in range(int(limiter.total_tokens)):
            group.start_soon(start_one)


async def parse_off_loop(
    page: Page, *, processes: bool, limiter: anyio.CapacityLimiter, timeout_s: float
) -> ParsedPage:
    """Parse `page` in a worker thread, or a worker process when `processes`, within `timeout_s` seconds.

    `limiter` bounds the pages parsed at once, and the timeout starts once
    this page has acquired it. Raises PageRejected when the page nests too deeply
    or its parse runs out of time. A worker process is then stopped. A thread
    cannot be stopped, so it runs on, and its result is dropped.
    """
    # anyio needs a limiter for this one call, because this task has acquired `limiter` already.
    worker_slot = anyio.CapacityLimiter(1)
    async with limiter:
        with anyio.move_on_after(timeout_s) as deadline:
            try:
                if processes:
                    return await anyio.to_process.run_sync(
                        parse_bounded,
                        page.body,
                        page.content_type,
                        page.url,
                        cancellable=True,
                        limiter=worker_slot,
                    )
                # NOTE: an abandoned thread keeps a core busy until its parse ends, and is not
                # counted by `limiter` while it does.
                return await anyio.to_thread.run_sync(
                    parse_bounded,
                    page.body,
                    page.content_type,
                    page.url,
                    abandon_on_cancel=True,
                    limiter=worker_slot,
                )
            except PageTooComplex as error:
                raise PageRejected(page.url, f"{page.url} was not parsed: {error}") from error

    assert deadline.cancelled_caught
    raise PageRejected(
        page.url,
        f"parsing {page.url} took longer than {timeout_s:g} s, so the page was skipped; it is too large "
        "or too complex to extract",
    )

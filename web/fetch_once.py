"""A fetch wrapper for one call: a page that several of the call's URLs lead to is fetched once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import anyio

from product_extractor.web.fetcher import Fetcher, Page
from product_extractor.web.page_cache import cache_key_url


@dataclass
class _Fetch:
    done: anyio.Event = field(default_factory=anyio.Event)
    page: Page | None = None  # None until the fetch succeeds; it stays None when it fails or is cancelled


class FetchOnceFetcher:
    """A `Fetcher` for one call that fetches each page once however many of the call's URLs lead to it.

    An input product URL that an input listing also links to, or two listings that share
    products, would otherwise cost a request (and a billed one on a paid backend) per URL.
    A later fetch of the same page waits for the first and gets its page with no requests
    counted, so the call's request and billing totals count the page once. Only a success
    is shared: after a failure or a cancelled first fetch, the next caller fetches again,
    because the failure may be one that URL's own deadline caused.
    """

    def __init__(self, inner: Fetcher) -> None:
        self.inner = inner
        self.backend_name = inner.backend_name
        self._fetches: dict[str, _Fetch] = {}

    async def fetch(self, url: str) -> Page:
        key = cache_key_url(url)
        while (earlier := self._fetches.get(key)) is not None:
            await earlier.done.wait()
            if earlier.page is not None:
                return dataclasses.replace(
                    earlier.page, requests=0, billed_requests=0, retries=0, requested_url=url
                )
            if self._fetches.get(key) is earlier:
                del self._fetches[key]

        current = self._fetches[key] = _Fetch()
        try:
            current.page = await self.inner.fetch(url)
            return current.page
        finally:
            current.done.set()

    async def aclose(self) -> None:
        # The server's backends own the inner fetcher and close it. This wrapper lives for one call.
        self._fetches.clear()

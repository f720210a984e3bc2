"""A fetch wrapper that applies the URL-safety rules before any other layer receives a URL."""

from __future__ import annotations

from product_extractor.web.fetcher import Fetcher, Page
from product_extractor.web.url_safety import UrlPolicy, unsafe_url_error


class UrlCheckedFetcher:
    """A `Fetcher` that rejects what `policy` rejects before the page cache or any backend is asked.

    The direct fetcher checks every URL and resolved address itself. Without this wrapper,
    a page cache in front of it would serve a page stored while the allow-list was wider.
    A paid backend would also send a URL naming a private address and be billed for it.
    This check needs no network access. With `check_port` False it leaves ports alone, for backends
    that fetch from their own network, where a shop on port 8080 is no risk to this host.
    """

    def __init__(self, inner: Fetcher, policy: UrlPolicy, *, check_port: bool = True) -> None:
        self.inner = inner
        self.policy = policy
        self.check_port = check_port
        self.backend_name = inner.backend_name

    async def fetch(self, url: str) -> Page:
        reason = self.policy.url_rejection(url, check_port=self.check_port)
        if reason is not None:
            raise unsafe_url_error(url, reason)
        return await self.inner.fetch(url)

    async def aclose(self) -> None:
        await self.inner.aclose()

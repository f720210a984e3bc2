"""The `Fetcher` protocol, the `Page` it returns, and the errors it raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched HTML page, decoded to text."""

    url: str  # final URL, after redirects
    requested_url: str
    status: int
    headers: Mapping[str, str]
    text: str
    elapsed: float  # seconds from the first byte sent to the last byte read
    requests: int = 1  # HTTP requests made, redirects included
    billed_requests: int = 0  # requests a paid backend charges for; 0 for direct fetching
    redirects: list[str] = field(default_factory=list)
    backend: str = "direct"  # what served the page: direct, or a paid backend such as brightdata-unlocker
    fallback_reason: str | None = None  # why a fallback served the page instead of the direct response
    # None when the page was fetched for this request. A number when the page cache served it:
    # the cached page's age in seconds. Such a page made no request, so `requests` is 0.
    cache_age_s: float | None = None


class Fetcher(Protocol):
    """Anything that turns a URL into a `Page` or raises a `FetchError`."""

    # The backend of the first attempt at a page, named as `Page.backend` names it. Results
    # report it for a URL that failed before any page came back.
    backend_name: str

    async def fetch(self, url: str) -> Page: ...

    async def aclose(self) -> None: ...


class FetchError(Exception):
    """A page could not be fetched; `str()` is a message an agent can act on."""

    def __init__(self, url: str, message: str, *, requests: int = 1, billed_requests: int = 0) -> None:
        super().__init__(message)
        self.url = url
        self.requests = requests
        self.billed_requests = billed_requests  # a paid backend may charge for a request that failed here


class FetchTimeout(FetchError):
    """The server did not respond in time."""


class ConnectFailed(FetchError):
    """No connection could be made to the host."""


class HTTPStatusError(FetchError):
    """The server responded with a status other than 2xx."""

    def __init__(
        self, url: str, status: int, message: str, *, requests: int = 1, billed_requests: int = 0
    ) -> None:
        super().__init__(url, message, requests=requests, billed_requests=billed_requests)
        self.status = status


class NotHTML(FetchError):
    """The response is not an HTML document."""


class TooLarge(FetchError):
    """The response body is larger than the configured cap."""


class TooManyRedirects(FetchError):
    """The redirect chain is longer than the configured limit."""


class BudgetExceeded(FetchError):
    """A spending cap stopped the request before it was sent; nothing was billed for it."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(url, message, requests=0)

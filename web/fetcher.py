"""The `Fetcher` protocol, the `Page` it returns, and the errors it raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from product_extractor.web.charset import decode_html


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched HTML page: its body as received, and what `text` needs to decode it.

    The body stays bytes until it is parsed, because the parse runs in a worker
    process, and bytes cross the process boundary for far less CPU than a large
    decoded string does.
    """

    url: str  # final URL, after redirects
    requested_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes  # after any Content-Encoding is undone
    content_type: str  # the Content-Type that `text` takes the charset from; "" when none was sent
    elapsed: float  # seconds from the first byte sent to the last byte read
    requests: int = 1  # HTTP requests made, redirects included
    billed_requests: int = 0  # requests a paid backend charges for; 0 for direct fetching
    redirects: list[str] = field(default_factory=list)
    backend: str = "direct"  # what served the page: direct, or a paid backend such as brightdata-unlocker
    fallback_reason: str | None = None  # why a fallback served the page instead of the direct response
    # None when the page was fetched for this request. A number when the page cache served it:
    # the cached page's age in seconds. Such a page made no request, so `requests` is 0.
    cache_age_s: float | None = None
    retries: int = 0  # failed attempts before this page came back; their requests are in `requests`

    @property
    def text(self) -> str:
        """The body decoded as `web.charset.decode_html` does; each read decodes it again."""
        return decode_html(self.body, self.content_type)[0]


class Fetcher(Protocol):
    """Anything that turns a URL into a `Page` or raises a `FetchError`."""

    # The backend of the first attempt at a page, named as `Page.backend` names it. Results
    # report it for a URL that failed before any page came back.
    backend_name: str

    async def fetch(self, url: str) -> Page: ...

    async def aclose(self) -> None: ...


class FetchError(Exception):
    """A page could not be fetched; `str()` is a message an agent can act on.

    `retryable` is True on failures that the same request may not hit again
    (timeouts, broken connections, 429 and 5xx answers); every other failure
    stays False, so an error class that does not set it is never retried.
    """

    retryable: bool = False
    retry_after_s: float | None = None  # the wait a Retry-After header asked for, in seconds

    def __init__(
        self, url: str, message: str, *, requests: int = 1, billed_requests: int = 0, retries: int = 0
    ) -> None:
        super().__init__(message)
        self.url = url
        self.requests = requests  # of every attempt, the retried ones included
        self.billed_requests = billed_requests  # a paid backend may charge for a request that failed here
        self.retries = retries  # attempts after the first, all of which failed too


class FetchTimeout(FetchError):
    """The server did not respond in time."""

    retryable = True


class ConnectFailed(FetchError):
    """No connection could be made to the host, or it closed the connection before the response ended.

    This includes a kept-alive connection that the server had already closed
    ("server disconnected without sending a response"), which a new connection fixes.
    """

    retryable = True


# Statuses that report an overloaded or rate-limiting server rather than a wrong request.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class HTTPStatusError(FetchError):
    """The server responded with a status other than 2xx; retryable for `RETRYABLE_STATUSES`."""

    def __init__(
        self,
        url: str,
        status: int,
        message: str,
        *,
        requests: int = 1,
        billed_requests: int = 0,
        retries: int = 0,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(url, message, requests=requests, billed_requests=billed_requests, retries=retries)
        self.status = status
        self.retryable = status in RETRYABLE_STATUSES
        self.retry_after_s = retry_after_s


class NotHTML(FetchError):
    """The response is not an HTML document."""


class TooLarge(FetchError):
    """The response body is larger than the configured cap."""


class TooManyRedirects(FetchError):
    """The redirect chain is longer than the configured limit."""


class BudgetExceeded(FetchError):
    """A spending cap stopped the request before it was sent; nothing was billed for it."""

    def __init__(self, url: str, message: str, *, retries: int = 0) -> None:
        super().__init__(url, message, requests=0, retries=retries)

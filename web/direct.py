"""Fetch pages straight from the shop with one shared HTTP client (the default backend)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import anyio
import httpcore2
import httpx2 as httpx

from product_extractor.web.checked_network import (
    CheckedNetworkBackend,
    CheckedTransport,
    Resolver,
    resolve_host,
)
from product_extractor.web.decoding import ACCEPT_ENCODING, ContentDecodingError, DecodeFailed, body_decoder
from product_extractor.web.fetcher import (
    ConnectFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    NotHTML,
    Page,
    TooLarge,
    TooManyRedirects,
)
from product_extractor.web.retry_after import parse_retry_after
from product_extractor.web.robots import ROBOTS_MAX_BYTES, RobotsOptions, RobotsResponse, RobotsTxtCache
from product_extractor.web.url_safety import UnsafeAddressError, UrlPolicy, unsafe_url_error

logger = logging.getLogger(__name__)

# A current desktop Chrome's navigation headers: some shops serve a stripped page or a
# bot wall to clients that announce themselves as scripts.
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Accept-Encoding": ACCEPT_ENCODING,
    "Upgrade-Insecure-Requests": "1",
}
HTML_TYPES = ("text/html", "application/xhtml+xml")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one page fetch."""

    request_timeout_s: float = 30.0  # connect, and each read, write or pool wait
    max_bytes: int = 10 * 1024 * 1024  # body size as received and as decoded, each enforced while reading
    max_redirects: int = 5
    max_connections: int = 100
    max_keepalive_connections: int = 20
    # Seconds from the response headers to the last body byte. A body trickling in a byte at
    # a time never trips the per-read timeout, so this bounds the whole read.
    body_timeout_s: float = 60.0


class DirectFetcher:
    """A `Fetcher` that talks to shops directly over one pooled `httpx2.AsyncClient`.

    Every URL and redirect hop passes `policy` (web/url_safety.py) before a
    request, and robots.txt (web/robots.py) when `robots` enables it. Host names
    are resolved and every address checked just before connecting. `resolver`
    and `connector` replace the name lookup and the TCP connect for tests. A
    custom `transport` skips the address check, because it makes its own
    connections, but not the URL checks.

    >>> fetcher = DirectFetcher()
    >>> page = await fetcher.fetch("https://shop.example/p/1")  # doctest: +SKIP
    >>> await fetcher.aclose()  # doctest: +SKIP
    """

    backend_name = "direct"

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        policy: UrlPolicy | None = None,
        robots: RobotsOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = resolve_host,
        connector: httpcore2.AsyncNetworkBackend | None = None,
    ):
        self.limits = limits or FetchLimits()
        self.policy = policy or UrlPolicy()
        if transport is None:
            network = CheckedNetworkBackend(self.policy, resolver=resolver, connector=connector)
            pool_limits = httpx.Limits(
                max_connections=self.limits.max_connections,
                max_keepalive_connections=self.limits.max_keepalive_connections,
            )
            transport = CheckedTransport(network, limits=pool_limits)
        self._client = httpx.AsyncClient(
            headers=BROWSER_HEADERS,
            timeout=httpx.Timeout(self.limits.request_timeout_s),
            follow_redirects=False,
            transport=transport,
            trust_env=False,  # see CheckedTransport: proxies from the environment would bypass the check
        )
        robots = robots or RobotsOptions()
        self.robots = RobotsTxtCache(self._get_robots_txt, robots) if robots.enabled else None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> Page:
        """Fetch `url`, following at most `max_redirects` redirects, and decode it as HTML.

        Raises UnsafeURL, RobotsDisallowed or RobotsTxtUnreachable before requesting
        a URL or redirect hop that the URL-safety check or robots.txt rejects.
        """
        started = time.monotonic()
        current = url
        redirects: list[str] = []

        while True:
            await self._check_before_request(url, current, requests=len(redirects))
            requests = len(redirects) + 1
            response_or_location = await self._request_once(current, requests=requests, requested_url=url)
            if isinstance(response_or_location, str):
                if len(redirects) >= self.limits.max_redirects:
                    raise TooManyRedirects(
                        url,
                        f"{url} redirected more than {self.limits.max_redirects} times "
                        f"(last hop {current}); open it in a browser to check the redirect loop",
                        requests=requests,
                    )
                redirects.append(current)
                current = response_or_location
                continue

            status, headers, body = response_or_location
            break

        return Page(
            url=current,
            requested_url=url,
            status=status,
            headers=headers,
            body=body,
            content_type=headers.get("content-type", ""),
            elapsed=time.monotonic() - started,
            requests=len(redirects) + 1,
            redirects=redirects,
        )

    async def _check_before_request(self, requested_url: str, url: str, *, requests: int) -> None:
        """Raise unless URL safety and robots.txt let `url`, a hop of `requested_url`, be requested."""
        reason = self.policy.url_rejection(url)
        if reason is not None:
            logger.info("rejected %s before requesting it: %s", url, reason)
            raise unsafe_url_error(requested_url, reason, target=url, requests=requests)
        if self.robots is not None:
            await self.robots.check(url, requested_url=requested_url, requests=requests)

    async def _request_once(
        self, url: str, *, requests: int, requested_url: str
    ) -> str | tuple[int, dict[str, str], bytes]:
        """Send one GET; return the redirect target, or `(status, headers, body)` of an HTML response."""
        response = await self._send(url, requests=requests, requested_url=requested_url)
        try:
            return await self._read_response(url, response, requests=requests)
        finally:
            await response.aclose()

    async def _send(self, url: str, *, requests: int, requested_url: str) -> httpx.Response:
        """Send one GET for `url` and return the streamed response, or raise the matching FetchError."""
        request = self._client.build_request("GET", url)
        try:
            return await self._client.send(request, stream=True)
        except UnsafeAddressError as error:
            raise unsafe_url_error(requested_url, error.reason, target=url, requests=requests - 1) from None
        except httpx.TimeoutException as error:
            raise FetchTimeout(
                url,
                f"{url} timed out after {self.limits.request_timeout_s:g} s "
                f"({type(error).__name__}); retry later or with a larger timeout_s",
                requests=requests,
            ) from error
        except httpx.InvalidURL as error:
            raise FetchError(url, f"{url} is not a valid URL: {error}", requests=requests) from error
        except httpx.TransportError as error:
            raise ConnectFailed(
                url,
                f"{url} could not be fetched: {type(error).__name__}: {error or 'connection failed'}; "
                "check that the host is reachable",
                requests=requests,
            ) from error

    async def _get_robots_txt(self, url: str) -> RobotsResponse:
        """Send one GET for a robots.txt through the same URL-safety checks and size cap as a page."""
        # NOTE: robots.txt requests are not counted in any URL's `requests`, because one fetch
        # serves every URL of its origin until the robots.txt TTL ends.
        reason = self.policy.url_rejection(url)
        if reason is not None:
            raise unsafe_url_error(url, reason)

        response = await self._send(url, requests=1, requested_url=url)
        try:
            location = response.headers.get("location")
            if 200 <= response.status_code < 300:
                cap = min(ROBOTS_MAX_BYTES, self.limits.max_bytes)
                body = await read_body_prefix(url, response, max_bytes=cap)
                if len(body) >= cap:
                    body = body[: body.rfind(b"\n") + 1]  # a line cut off at the cap is dropped whole
            else:
                body = b""
        finally:
            await response.aclose()
        return RobotsResponse(
            status=response.status_code,
            location=str(response.url.join(location)) if location else None,
            body=body,
        )

    async def _read_response(
        self, url: str, response: httpx.Response, *, requests: int
    ) -> str | tuple[int, dict[str, str], bytes]:
        headers = {key.lower(): value for key, value in response.headers.items()}
        location = headers.get("location")
        if response.status_code in REDIRECT_STATUSES and location:
            return str(response.url.join(location))

        if response.status_code >= 400:
            raise HTTPStatusError(
                url,
                response.status_code,
                f"{url} answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
                + _status_advice(response.status_code),
                requests=requests,
                retry_after_s=parse_retry_after(headers.get("retry-after")),
            )

        content_type = headers.get("content-type", "")
        media_type = media_type_of(content_type)
        if media_type and media_type not in HTML_TYPES:
            raise NotHTML(
                url,
                f"{url} is {media_type}, not an HTML page; pass the URL of a product or category page",
                requests=requests,
            )

        body = await read_capped_body(
            url,
            response,
            max_bytes=self.limits.max_bytes,
            requests=requests,
            timeout_s=self.limits.body_timeout_s,
        )
        if not media_type and not looks_like_html(body):
            raise NotHTML(url, f"{url} has no Content-Type and does not look like HTML", requests=requests)
        return response.status_code, headers, body


async def read_capped_body(
    url: str,
    response: httpx.Response,
    *,
    max_bytes: int,
    requests: int,
    billed_requests: int = 0,
    timeout_s: float | None = None,
) -> bytes:
    """Read and decode the body of a streamed `response`, stopping as soon as it passes a limit.

    `max_bytes` caps the bytes received and, separately, the bytes they decode
    to, so a compression bomb stops after one piece past the cap. `timeout_s`
    bounds the whole read, which ends bodies that trickle in too slowly for the
    per-read timeout to fire. Raises `TooLarge`, `ContentDecodingError`, or
    `FetchTimeout` and `ConnectFailed` when the body breaks off. The errors
    carry `requests` and `billed_requests` for the caller's accounting.
    """
    declared = response.headers.get("content-length")
    declared_size = int(declared) if declared is not None and declared.isdigit() else None
    if declared_size is not None and declared_size > max_bytes:
        raise TooLarge(
            url,
            f"{url} announces {declared_size} bytes (Content-Length), more than the "
            f"{_megabytes(max_bytes)} MB page limit",
            requests=requests,
            billed_requests=billed_requests,
        )

    decoder = body_decoder(
        url,
        response.headers.get_list("content-encoding"),
        requests=requests,
        billed_requests=billed_requests,
    )
    chunks: list[bytes] = []
    received = 0
    size = 0
    started = time.monotonic()
    try:
        with anyio.move_on_after(math.inf if timeout_s is None else timeout_s) as deadline:
            async for raw in response.aiter_raw():
                received += len(raw)
                if received > max_bytes:
                    raise too_large_error(url, max_bytes, requests=requests, billed_requests=billed_requests)
                for piece in decoder.decode(raw):
                    size += len(piece)
                    if size > max_bytes:
                        raise decoded_too_large_error(
                            url, max_bytes, received, requests=requests, billed_requests=billed_requests
                        )
                    chunks.append(piece)
    except DecodeFailed as error:
        raise ContentDecodingError(
            url,
            f"{url} sent a body whose {response.headers.get('content-encoding')} data is corrupt "
            f"({error}); retry later",
            requests=requests,
            billed_requests=billed_requests,
        ) from error
    except httpx.TimeoutException as error:
        raise FetchTimeout(
            url,
            f"{url} stopped sending after {received} bytes and timed out; retry later",
            requests=requests,
            billed_requests=billed_requests,
        ) from error
    except httpx.RemoteProtocolError as error:
        expected = f" of the {declared_size} announced" if declared_size is not None else ""
        raise ConnectFailed(
            url,
            f"{url} closed the connection after {received}{expected} bytes, so the page arrived "
            "incomplete; retry later",
            requests=requests,
            billed_requests=billed_requests,
        ) from error
    except httpx.TransportError as error:
        raise ConnectFailed(
            url,
            f"{url} broke off after {received} bytes: {type(error).__name__}; retry later",
            requests=requests,
            billed_requests=billed_requests,
        ) from error

    if deadline.cancelled_caught:
        raise FetchTimeout(
            url,
            f"{url} sent its body too slowly: {received} bytes in {time.monotonic() - started:.1f} s, "
            f"and a page may take at most {timeout_s:g} s to arrive; retry later",
            requests=requests,
            billed_requests=billed_requests,
        )
    return b"".join(chunks)


async def read_body_prefix(url: str, response: httpx.Response, *, max_bytes: int) -> bytes:
    """Read the decoded body of a streamed `response` up to `max_bytes` and drop the rest.

    Raises FetchTimeout or ConnectFailed when the body breaks off before that.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk[: max_bytes - size])
            size += len(chunk)
            if size >= max_bytes:
                break
    except httpx.TimeoutException as error:
        raise FetchTimeout(url, f"{url} stopped sending after {size} bytes and timed out") from error
    except httpx.TransportError as error:
        raise ConnectFailed(url, f"{url} broke off after {size} bytes: {type(error).__name__}") from error
    return b"".join(chunks)


def too_large_error(url: str, max_bytes: int, *, requests: int, billed_requests: int = 0) -> TooLarge:
    return TooLarge(
        url,
        f"{url} is larger than the {_megabytes(max_bytes)} MB page limit",
        requests=requests,
        billed_requests=billed_requests,
    )


def decoded_too_large_error(
    url: str, max_bytes: int, received: int, *, requests: int, billed_requests: int = 0
) -> TooLarge:
    return TooLarge(
        url,
        f"{url} decompresses to more than the {_megabytes(max_bytes)} MB page limit from only "
        f"{received} bytes received (a compression bomb, or a page too large to extract)",
        requests=requests,
        billed_requests=billed_requests,
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def media_type_of(content_type: str) -> str:
    """Return the lower-case media type of a Content-Type header value, without parameters."""
    return content_type.split(";")[0].strip().lower()


def _status_advice(status: int) -> str:
    if status == 404:
        return "; the page does not exist, check the URL"
    if status in (401, 403, 429, 503):
        return "; the shop is refusing or limiting direct requests, retry later or use the brightdata backend"
    if status >= 500:
        return "; the shop's server failed, retry later"
    return ""


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head

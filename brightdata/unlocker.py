"""Fetch pages through Bright Data's Web Unlocker (`POST /request`, `format: raw`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx2 as httpx
from pydantic import SecretStr

from product_extractor.brightdata._http import MeteredApiClient, lower_headers, read_error, send
from product_extractor.brightdata.cost import CostMeter
from product_extractor.brightdata.errors import (
    BrightDataError,
    ProxyAuthFailed,
    TokenRejected,
    UsageLimitReached,
    ZoneNotFound,
)
from product_extractor.web.direct import HTML_TYPES, looks_like_html, media_type_of, read_capped_body
from product_extractor.web.fetcher import HTTPStatusError, NotHTML, Page
from product_extractor.web.limits import RequestGate

__all__ = ["UnlockerConfig", "WebUnlockerFetcher"]

logger = logging.getLogger(__name__)

BACKEND_NAME = "brightdata-unlocker"  # Page.backend of pages this fetcher serves

DEFAULT_BASE_URL = "https://api.brightdata.com"


@dataclass(frozen=True, slots=True)
class UnlockerConfig:
    """Account, zone and limits of the Web Unlocker backend. The token is a `SecretStr`, so repr hides it."""

    token: SecretStr
    zone: str = "mcp_unlocker"
    base_url: str = DEFAULT_BASE_URL
    country: str | None = None  # two-letter ISO code of the exit country ("us"); None: Bright Data picks
    # One call covers the unlocker's own retries and browser rendering, and its browser
    # waits up to 90 s for a page element, so this is longer than a direct fetch's timeout.
    request_timeout_s: float = 90.0
    max_bytes: int = 10 * 1024 * 1024  # decoded body size, enforced while reading
    max_connections: int = 100
    # Seconds the body may take from the response headers to its last byte; None: no bound
    # beyond the per-read timeout.
    body_timeout_s: float | None = 60.0

    def __post_init__(self) -> None:
        if not self.zone.strip():
            raise ValueError("the Web Unlocker zone name is empty; set PRODUCT_EXTRACTOR_BRIGHTDATA_ZONE")
        if self.country is not None and len(self.country) != 2:
            raise ValueError(f"country {self.country!r} is invalid; use a two-letter ISO code such as 'us'")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s={self.request_timeout_s} must be more than 0 seconds")


class WebUnlockerFetcher(MeteredApiClient):
    """A `Fetcher` that requests each page from the Web Unlocker over one pooled `httpx2.AsyncClient`.

    Bright Data bills a request once the unlocker delivers the target's response,
    whatever the target's status, so a target 404 raises `HTTPStatusError` with
    `billed_requests=1`. Calls the unlocker rejects are not billed.

    >>> fetcher = WebUnlockerFetcher(UnlockerConfig(token=SecretStr("...")))  # doctest: +SKIP
    >>> page = await fetcher.fetch("https://shop.example/p/1")  # doctest: +SKIP
    >>> page.billed_requests  # doctest: +SKIP
    1
    >>> await fetcher.aclose()  # doctest: +SKIP
    """

    backend_name = BACKEND_NAME

    def __init__(
        self,
        config: UnlockerConfig,
        *,
        meter: CostMeter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self.config = config
        # Set on per-call views: an error that every later request of the call would hit too.
        self._stop: _CallStop | None = None
        super().__init__(
            token=config.token,
            base_url=config.base_url,
            timeout_s=config.request_timeout_s,
            max_connections=config.max_connections,
            meter=meter,
            transport=transport,
            gate=gate,
        )

    def __repr__(self) -> str:
        return f"WebUnlockerFetcher(zone={self.config.zone!r}, base_url={self.config.base_url!r})"

    def _start_call(self) -> None:
        self._stop = _CallStop()

    async def fetch(self, url: str) -> Page:
        """Fetch `url` through the Web Unlocker and decode it as HTML.

        Raises `CostCapReached` before sending when the meter's cap would be passed.
        """
        self._raise_if_stopped(url)
        reservation = self.meter.reserve(url, requests=1) if self.meter is not None else None
        attempt = _Attempt()
        try:
            async with self.gate.admit():
                # An account error may have stopped the call while this request waited its turn.
                self._raise_if_stopped(url)
                return await self._fetch(url, attempt)
        except CALL_STOPPING_ERRORS as error:
            if self._stop is not None:
                self._stop.error = self._stop.error or error
            raise
        finally:
            # Also on cancellation: once the unlocker has responded, the request is billed.
            if reservation is not None:
                reservation.commit(requests=attempt.billed_requests)

    def _raise_if_stopped(self, url: str) -> None:
        if self._stop is not None and self._stop.error is not None:
            raise _not_sent(url, self._stop.error)

    async def _fetch(self, url: str, attempt: _Attempt) -> Page:
        started = time.monotonic()
        payload: dict[str, str] = {"zone": self.config.zone, "url": url, "format": "raw"}
        if self.config.country is not None:
            payload["country"] = self.config.country
        request = self._client.build_request("POST", "/request", json=payload)

        logger.debug("web unlocker: requesting %s through zone %s", url, self.config.zone)
        response = await send(
            self._client,
            request,
            url=url,
            endpoint="the Bright Data Web Unlocker",
            timeout_s=self.config.request_timeout_s,
            token=self.config.token,
        )
        try:
            page = await self._read_response(url, response, attempt, started)
        except Exception as error:
            logger.debug("web unlocker: %s failed: %s", url, error)
            raise
        finally:
            await response.aclose()

        logger.debug("web unlocker: %s returned status %d in %.2f s", url, page.status, page.elapsed)
        return page

    async def _read_response(
        self, url: str, response: httpx.Response, attempt: _Attempt, started: float
    ) -> Page:
        headers = lower_headers(response)
        target_status = _target_status(headers)

        # Before the unlocker takes a request it responds with its own status (400, 401, 403,
        # 407, 429, 502). After that the outer status is 200 and an `x-brd-error` header marks
        # a failure of the unlocker itself rather than a page from the target.
        # NOTE: an unlocker error inside a 200 is mapped by its `x-brd-status-code` (502 when
        # absent) and counted as unbilled. The sandbox never sends one, so this path is untested.
        unlocker_error = "x-brd-error" in headers or "x-luminati-error" in headers
        if response.status_code != 200 or unlocker_error:
            status = response.status_code
            if status == 200:
                status = target_status if target_status >= 400 else 502
            raise await read_error(
                response, url=url, token=self.config.token, zone=self.config.zone, status=status
            )

        attempt.billed_requests = 1
        if target_status >= 400:
            raise HTTPStatusError(
                url,
                target_status,
                f"{url} answered HTTP {target_status} through the Bright Data Web Unlocker"
                + _target_status_advice(target_status),
                billed_requests=1,
            )

        content_type = headers.get("content-type", "")
        media_type = media_type_of(content_type)
        if media_type and media_type not in HTML_TYPES:
            raise NotHTML(
                url,
                f"{url} is {media_type}, not an HTML page; pass the URL of a product or category page",
                billed_requests=1,
            )

        body = await read_capped_body(
            url,
            response,
            max_bytes=self.config.max_bytes,
            requests=1,
            billed_requests=1,
            timeout_s=self.config.body_timeout_s,
        )
        if not media_type and not looks_like_html(body):
            raise NotHTML(url, f"{url} has no Content-Type and does not look like HTML", billed_requests=1)

        return Page(
            url=url,  # a raw response carries no final URL, so the page keeps the requested one
            requested_url=url,
            status=target_status,
            headers=headers,
            body=body,
            content_type=content_type,
            elapsed=time.monotonic() - started,
            requests=1,
            billed_requests=1,
            backend=BACKEND_NAME,
        )


@dataclass(slots=True)
class _Attempt:
    """The requests billed for one call so far, readable after a cancellation."""

    billed_requests: int = 0


def _target_status(headers: dict[str, str]) -> int:
    """Return the target's status from `x-brd-status-code`, or 200 when the header is absent or invalid."""
    value = headers.get("x-brd-status-code", "").strip()
    return int(value) if value.isdigit() else 200


def _target_status_advice(status: int) -> str:
    if status == 404:
        return "; the page does not exist, check the URL"
    if status in (401, 403, 429):
        return "; the shop refused the request even through the unlocker, retry later"
    if status >= 500:
        return "; the shop's server failed, retry later"
    return ""


# Errors about the account rather than the page: every later request of the same call would
# get them too, so a call's view stops sending after the first one.
CALL_STOPPING_ERRORS = (TokenRejected, ZoneNotFound, UsageLimitReached, ProxyAuthFailed)


@dataclass(slots=True)
class _CallStop:
    error: BrightDataError | None = None


def _not_sent(url: str, cause: BrightDataError) -> BrightDataError:
    """Return the error for a request not sent because an earlier one in the call hit `cause`."""
    return type(cause)(
        url,
        f"{url} was not requested, because an earlier request of this call failed: {cause}",
        status=cause.status,
        error_code=cause.error_code,
        retryable=cause.retryable,
        requests=0,
    )

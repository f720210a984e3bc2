"""The Web Unlocker endpoint of the Bright Data stand-in: `POST /request` over a saved-pages folder.

Through the unlocker a client sees the target's own page, so pages go out as
saved, links unchanged. As on the real API, a bad token gets 401 and a bad
zone or URL gets 400 before the request reaches the unlocker. The rate limit
(429) and the zone's quota (403) come next, an order chosen here. Only then
does the request reach the target, reported as outer status 200 with the
target's status in `x-brd-status-code`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from product_extractor.sandbox.brightdata_state import Billing, RequestNote, note_of, reject_unauthenticated
from product_extractor.sandbox.category import CATEGORY_PATH, render_category_page
from product_extractor.sandbox.saved_pages import SavedPage, SavedPages
from product_extractor.sandbox.serving import InjectedDelays
from product_extractor.sandbox.shop import render_saved_page, same_site_hosts_of, web_charset_label
from product_extractor.sandbox.unlocker_faults import (
    UNLOCK_ERROR_MESSAGES,
    RateLimit,
    SlidingWindow,
    UnlockerFaultPlan,
    retry_after_header,
)

logger = logging.getLogger(__name__)

FORMATS = ("raw", "json")

# The zone type of Web Unlocker zones; /request accepts only these.
ZONE_TYPE = "unblocker"

# Bytes of saved pages kept in memory, decompressed and keyed by file, least recently read
# out first. Several URLs may show one file, and a page runs up to a few MB.
_PAGE_CACHE_BYTES = 256 * 1024 * 1024

_COUNTRY = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True, slots=True)
class UnlockerSettings:
    """Fixed settings of the Web Unlocker endpoint."""

    zones: tuple[str, ...] = ("mcp_unlocker",)
    rate_limit: RateLimit | None = None
    legacy_error_headers: bool = False  # also send x-luminati-error and x-luminati-error-code
    timeout_seconds: float = 180.0  # seconds an injected timeout delays a request before its 502
    category_page_size: int = 0  # product cards per generated category page; 0 puts all on one


@dataclass(frozen=True, slots=True)
class _Target:
    """The target's response: its status, the body bytes and their charset."""

    status: int
    body: bytes
    charset: str | None


class UnlockerEndpoint:
    """Serves `POST /request`; `faults` and `quota` may be changed from other threads."""

    def __init__(
        self,
        pages: SavedPages,
        *,
        token: str,
        settings: UnlockerSettings,
        faults: UnlockerFaultPlan,
        billing: Billing,
        delays: InjectedDelays,
        quota: int | None = None,
    ) -> None:
        self.pages = pages
        self.settings = settings
        self.faults = faults
        self.billing = billing
        self.quota = quota  # billed requests the zones may use; None means no limit
        # Zone name to type; POST /zone adds to it, so it outlives the settings.
        self.zones: dict[str, str] = dict.fromkeys(settings.zones, ZONE_TYPE)
        self._token = token
        self._delays = delays
        self._window = SlidingWindow(settings.rate_limit) if settings.rate_limit else None
        self._quota_lock = threading.Lock()
        self._quota_reserved = 0  # requests admitted under the quota and still in flight
        self._page_cache: OrderedDict[Path, bytes] = OrderedDict()
        self._page_cache_bytes = 0

    async def request(self, request: Request) -> Response:
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected

        note = note_of(request)
        parsed = await self._parse_body(request, note)
        if isinstance(parsed, Response):
            return parsed
        url, response_format = parsed

        if self._window is not None:
            wait = self._window.admit()
            if wait is not None:
                return self._error(
                    note,
                    429,
                    f"Too many requests: more than {self.settings.rate_limit} in the window",
                    code="sr_rate_limit",
                    headers={"Retry-After": retry_after_header(wait)},
                )

        if not self._reserve_quota():
            return self._quota_exceeded(note)
        try:
            return await self._unlock(url, response_format, note)
        finally:
            self._release_quota()

    async def _parse_body(self, request: Request, note: RequestNote) -> tuple[str, str] | Response:
        """Return the target URL and format, or the 400 the unlocker sends for an invalid body."""
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            return self._error(note, 400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return self._error(note, 400, "Request body must be a JSON object with zone, url and format")

        zone, url, response_format = body.get("zone"), body.get("url"), body.get("format")
        note.zone = zone if isinstance(zone, str) else None
        note.target_url = url if isinstance(url, str) else None
        if not isinstance(zone, str) or not zone:
            return self._error(note, 400, "zone is required")
        if self.zones.get(zone) != ZONE_TYPE:
            return self._error(note, 400, f'zone "{zone}" not found')
        if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("http", "https"):
            return self._error(note, 400, "url must be an absolute URL starting with http:// or https://")
        if response_format not in FORMATS:
            return self._error(note, 400, f"format must be one of {', '.join(FORMATS)}")

        country = body.get("country")
        if country is not None and not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
            return self._error(note, 400, "country must be a 2-letter ISO 3166 code such as us")
        method = body.get("method", "GET")
        if not isinstance(method, str) or not method.isalpha():
            return self._error(note, 400, "method must be an HTTP method name such as GET")
        # NOTE: data_format (markdown, screenshot) and ?async=true are not reproduced.
        if body.get("data_format") is not None:
            return self._error(
                note, 400, "data_format is not supported by the sandbox; use format raw or json"
            )
        return url, response_format

    async def _unlock(self, url: str, response_format: str, note: RequestNote) -> Response:
        decision = self.faults.decide(url)
        note.delay = decision.delay
        if not await self._delays.wait(decision.delay):
            return self._error(note, 503, "The sandbox is shutting down")

        if decision.timeout:
            logger.debug("holding %s for an injected timeout of %s s", url, self.settings.timeout_seconds)
            if not await self._delays.wait(self.settings.timeout_seconds):
                return self._error(note, 503, "The sandbox is shutting down")
            return self._unlock_error(note, "navigation_timeout", url, response_format)
        if decision.status is not None:
            # The real unlocker's 429 carries the code sr_rate_limit.
            code = "sr_rate_limit" if decision.status == 429 else None
            headers = {"Retry-After": decision.retry_after} if decision.retry_after is not None else None
            return self._error(
                note,
                decision.status,
                f"Injected {decision.status} from the sandbox",
                code=code,
                headers=headers,
            )
        if decision.unlock_error is not None:
            return self._unlock_error(note, decision.unlock_error, url, response_format)

        target = await self._fetch_target(url)
        if decision.target_status is not None:
            target = _Target(decision.target_status, _small_page(decision.target_status, url), "utf-8")
        if target.status >= 500:
            # The unlocker rejects a target's 5xx instead of passing it on.
            return self._unlock_error(note, "http_status", url, response_format, target_status=target.status)

        note.target_status = target.status
        note.billed = True
        self.billing.bill_request(url)
        return _target_response(target, response_format)

    async def _fetch_target(self, url: str) -> _Target:
        original = _original_url(url, self.pages.sites.keys())
        # A real unlocker returns a shop's page with that shop's own links. So a shop URL gets
        # its links back in shop form, and an original URL gets the original links.
        shop_base = _shop_base(url) if original != url else None
        parts = urlsplit(original)
        host = (parts.hostname or "").lower()

        if parts.path == f"/{CATEGORY_PATH}":
            return self._category(host, parts.query, url, shop_base)

        page = self.pages.find(host, parts.path or "/", parts.query)
        if page is None:
            return _Target(404, _small_page(404, url), "utf-8")
        if shop_base is not None:
            hosts = same_site_hosts_of(page, self.pages.sites[page.host])
            body, charset = await anyio.to_thread.run_sync(render_saved_page, page, shop_base, hosts)
            return _Target(200, body, charset)
        body = await self._read_page(page)
        return _Target(200, body, page.charset(body))

    def _category(self, host: str, query: str, url: str, shop_base: str | None) -> _Target:
        site = self.pages.sites.get(host)
        page_text = parse_qs(query).get("page", ["1"])[0]
        page_number = int(page_text) if page_text.isdigit() else 0
        html = None
        if site is not None and len(site.products) >= 2:
            html = render_category_page(
                site, base_url=shop_base, page=page_number, page_size=self.settings.category_page_size
            )
        if html is None:
            return _Target(404, _small_page(404, url), "utf-8")
        return _Target(200, html.encode("utf-8"), "utf-8")

    async def _read_page(self, page: SavedPage) -> bytes:
        cached = self._page_cache.get(page.file)
        if cached is not None:
            self._page_cache.move_to_end(page.file)
            return cached

        # Reading and gunzipping a large page takes milliseconds; a worker
        # thread keeps that off the loop so concurrent requests overlap.
        cached = await anyio.to_thread.run_sync(page.read_bytes)
        if page.file not in self._page_cache:
            self._page_cache[page.file] = cached
            self._page_cache_bytes += len(cached)
        while self._page_cache_bytes > _PAGE_CACHE_BYTES and len(self._page_cache) > 1:
            _file, evicted = self._page_cache.popitem(last=False)
            self._page_cache_bytes -= len(evicted)
        return cached

    def _reserve_quota(self) -> bool:
        """Admit one request under the quota; requests in flight count, so concurrency cannot overshoot it."""
        with self._quota_lock:
            if self.quota is not None and self.billing.requests + self._quota_reserved >= self.quota:
                return False
            self._quota_reserved += 1
            return True

    def _release_quota(self) -> None:
        with self._quota_lock:
            self._quota_reserved -= 1

    def _quota_exceeded(self, note: RequestNote) -> Response:
        message = "Zone has reached usage limit"
        body = (
            "<!DOCTYPE html><title>Webpage not available</title>"
            f"<h1>Webpage not available</h1><p>{message}</p>"
        )
        note.error_code = "client_10100"
        headers = {
            "x-brd-error": message,
            "x-brd-err-code": "client_10100",
            "Proxy-Status": f'brightdata; error=http_request_denied; details="{message}"',
        }
        return Response(body, status_code=403, headers=headers, media_type="text/html")

    def _unlock_error(
        self,
        note: RequestNote,
        code: str,
        url: str,
        response_format: str,
        *,
        target_status: int | None = None,
    ) -> Response:
        """Return the 502 of a failed unlock; with format json the body is the envelope with an empty body."""
        message = UNLOCK_ERROR_MESSAGES[code].format(url=url, status=target_status)
        note.target_status = target_status
        headers = self._error_headers(502, message, code)
        if response_format == "json":
            envelope = {"status_code": 502, "headers": headers, "body": ""}
            logger.debug("responding 502 (%s) to %s: %s", code, url, message)
            note.error_code = code
            return JSONResponse(envelope, status_code=502, headers=headers)
        return self._error(note, 502, message, code=code)

    def _error(
        self,
        note: RequestNote,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Return an error the unlocker generated: the message in `x-brd-error` and the body, never billed."""
        logger.debug("responding %d (%s) to %s: %s", status, code, note.target_url, message)
        note.error_code = code
        all_headers = self._error_headers(status, message, code) | (headers or {})
        return Response(message, status_code=status, headers=all_headers, media_type="text/plain")

    def _error_headers(self, status: int, message: str, code: str | None) -> dict[str, str]:
        headers = {"x-brd-error": message}
        if code is not None:
            headers["x-brd-error-code"] = code
        if self.settings.legacy_error_headers:
            headers["x-luminati-error"] = message
            if code is not None:
                headers["x-luminati-error-code"] = code
        if status in (400, 403, 407):
            error_type = {400: "http_request_error", 403: "http_request_denied", 407: "proxy_auth_required"}
            headers["Proxy-Status"] = f"brightdata; error={error_type[status]}"
        return headers


def _target_response(target: _Target, response_format: str) -> Response:
    media_type = f"text/html; charset={web_charset_label(target.charset)}" if target.charset else "text/html"
    target_headers = {"content-type": media_type, "x-brd-status-code": str(target.status)}
    if response_format == "raw":
        return Response(target.body, status_code=200, headers=target_headers)

    text = target.body.decode(target.charset or "utf-8", errors="replace")
    envelope = {"status_code": target.status, "headers": target_headers, "body": text}
    return JSONResponse(envelope, headers={"x-brd-status-code": str(target.status)})


def _small_page(status: int, url: str) -> bytes:
    """Return the short HTML page a target sends with an error status."""
    return (
        f"<!DOCTYPE html><html><head><title>{status}</title></head>"
        f"<body><h1>{status}</h1><p>{escape(url)} returned {status}.</p></body></html>"
    ).encode()


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _shop_base(url: str) -> str:
    """Return the scheme and authority of a sandbox shop URL, e.g. http://127.0.0.1:43121."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _original_url(url: str, saved_hosts: Iterable[str]) -> str:
    """Map a sandbox shop URL (`http://127.0.0.1:P/<host>/<path>`) to the original URL it serves.

    The auto backend fetches shop pages directly from the sandbox shop and sends
    a blocked one to the unlocker under the same URL, so the stand-in unlocker
    resolves shop URLs too. Other URLs come back unchanged.
    """
    parts = urlsplit(url)
    if (parts.hostname or "").lower() not in _LOOPBACK_HOSTS:
        return url
    site, _, rest = parts.path.lstrip("/").partition("/")
    if site.lower() not in set(saved_hosts):
        return url
    return urlunsplit(("https", site.lower(), "/" + rest, parts.query, ""))

"""The sandbox shop: a Starlette app serving a saved-pages folder under its original hosts and paths.

URL scheme (the base URL is whatever host and port the server is reached on):

| path | response |
| --- | --- |
| `/<host>/<path>?<query>` | the page saved from `http(s)://<host>/<path>?<query>`, links rewritten |
| `/<host>/_category?page=N` | generated product cards for a site with two or more saved product pages |
| any other path | 404 with a short HTML body |
| `/_index` | JSON: every site's category, product, listing and other page URLs on the sandbox |
| `/_log` | JSON: the request log; `DELETE /_log` clears it |
| `/robots.txt` | one robots.txt for all the sites; allows everything until `set_robots_txt` changes it |
| `/` | an HTML list of the sites, for a person browsing |

Latency, injected errors and body faults (sandbox/body_faults.py) apply to the
`/<host>/...` paths only.
"""

from __future__ import annotations

import codecs
import logging
from collections import OrderedDict
from html import escape
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from product_extractor.sandbox.body_faults import RedirectLoop, fault_response, redirect_loop_response
from product_extractor.sandbox.category import CATEGORY_PATH, category_page_count, render_category_page
from product_extractor.sandbox.faults import FaultPlan
from product_extractor.sandbox.links import rewrite_links, sandbox_url
from product_extractor.sandbox.request_log import (
    RequestLog,
    RequestLogMiddleware,
    RequestRecord,
    shop_request_record,
)
from product_extractor.sandbox.saved_pages import SavedPage, SavedPages, Site
from product_extractor.sandbox.serving import InjectedDelays

logger = logging.getLogger(__name__)

# Rewritten pages kept in memory, keyed by page id and base URL. Saved pages
# run up to about 1 MB, so this bounds the cache near 64 MB.
_REWRITTEN_CACHE_SIZE = 64

ALLOW_ALL_ROBOTS_TXT = "User-agent: *\nDisallow:\n"


class ShopApp:
    """The ASGI app of the sandbox shop; `faults` and `log` may be changed and read from other threads."""

    def __init__(
        self,
        pages: SavedPages,
        *,
        faults: FaultPlan | None = None,
        page_size: int = 0,
        log: RequestLog[RequestRecord] | None = None,
        robots_txt: str = ALLOW_ALL_ROBOTS_TXT,
    ) -> None:
        if page_size < 0:
            raise ValueError(f"page size {page_size} is invalid; use 0 (one page) or a positive number")
        self.pages = pages
        self.faults = faults or FaultPlan()
        self.page_size = page_size
        # One pair, swapped whole, so a request never gets the body of one setting with the status of another.
        self._robots_txt: tuple[str, int] = (robots_txt, 200)
        self.log: RequestLog[RequestRecord] = log or RequestLog()
        self._rewritten: OrderedDict[tuple[str, str], tuple[bytes, str | None]] = OrderedDict()
        self._delays = InjectedDelays()

        routes = [
            Route("/", self._home),
            Route("/_index", self._index),
            Route("/_log", self._request_log, methods=["GET", "DELETE"]),
            Route("/robots.txt", self._robots),
            Route("/{site_path:path}", self._site_path),
        ]
        self._asgi = RequestLogMiddleware(Starlette(routes=routes), self.log, shop_request_record)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def set_robots_txt(self, body: str, *, status: int = 200) -> None:
        """Serve `body` as /robots.txt with `status`; a 4xx or 5xx status sends a short error page instead."""
        if not 200 <= status <= 599:
            raise ValueError(f"robots.txt status {status} is invalid; use an HTTP status from 200 to 599")
        self._robots_txt = (body, status)

    def stop_waiting(self) -> None:
        """End every injected delay now and skip later ones; call from the server's event loop."""
        self._delays.stop()

    def index(self, base_url: str) -> dict[str, Any]:
        """Return the /_index document: every site's pages as absolute sandbox URLs."""
        base_url = base_url.rstrip("/")
        sites = []
        for site in self.pages.sites.values():
            has_category = len(site.products) >= 2
            sites.append(
                {
                    "host": site.host,
                    "category_url": f"{base_url}/{site.host}/{CATEGORY_PATH}" if has_category else None,
                    "category_pages": category_page_count(site, self.page_size) if has_category else 0,
                    "product_urls": [sandbox_url(base_url, page.url) for page in site.products],
                    "listing_urls": [sandbox_url(base_url, page.url) for page in site.listings],
                    "other_urls": [sandbox_url(base_url, page.url) for page in site.others],
                }
            )
        pages = [
            {
                "id": page.id,
                "kind": page.kind,
                "url": page.url,
                "sandbox_url": sandbox_url(base_url, page.url),
            }
            for page in self.pages
        ]
        return {"base_url": base_url, "sites": sites, "pages": pages}

    async def _index(self, request: Request) -> Response:
        return JSONResponse(self.index(_base_url(request)))

    async def _request_log(self, request: Request) -> Response:
        if request.method == "DELETE":
            cleared = len(self.log.records())
            self.log.clear()
            return JSONResponse({"cleared": cleared})
        return JSONResponse({"requests": [record.to_json() for record in self.log.records()]})

    async def _robots(self, _request: Request) -> Response:
        body, status = self._robots_txt
        if status >= 400:
            return _html_status(status, "robots.txt status set by the sandbox shop.")
        return Response(body, status_code=status, media_type="text/plain; charset=utf-8")

    async def _home(self, request: Request) -> Response:
        base_url = _base_url(request)
        items = []
        for site in self.pages.sites.values():
            target = f"/{site.host}/{CATEGORY_PATH}" if len(site.products) >= 2 else None
            first_page = (site.products + site.listings + site.others)[0]
            link = target or sandbox_url(base_url, first_page.url)
            items.append(f'<li><a href="{escape(link)}">{escape(site.host)}</a></li>')
        body = "<!DOCTYPE html><title>Sandbox shop</title><h1>Saved sites</h1><ul>" + "".join(items) + "</ul>"
        return HTMLResponse(body)

    async def _site_path(self, request: Request) -> Response:
        decision = self.faults.decide(request.url.path)
        if not await self._delays.wait(decision.delay):
            return _html_status(503, "The sandbox shop is shutting down.")
        if decision.status is not None:
            logger.debug("injecting %d (%s) into %s", decision.status, decision.reason, request.url.path)
            response = _html_status(decision.status, "Injected by the sandbox shop.")
            response.headers["X-Sandbox-Fault"] = decision.reason or "status"
            if decision.retry_after is not None:
                response.headers["Retry-After"] = decision.retry_after
            return response
        if isinstance(decision.body, RedirectLoop):
            return redirect_loop_response(str(request.url))

        page = await self._page(request)
        if decision.body is None or page.status_code != 200:
            return page
        logger.debug("injecting %s into %s", decision.body.name, request.url.path)
        return fault_response(decision.body, page, self._delays)

    async def _page(self, request: Request) -> Response:
        host, _, rest = request.path_params["site_path"].partition("/")
        host = host.lower()
        base_url = _base_url(request)

        # NOTE: a page saved at /_category itself would be hidden behind this route.
        if rest == CATEGORY_PATH:
            return self._category(host, request, base_url)

        page = self.pages.find(host, "/" + rest, request.url.query)
        if page is None:
            return _html_status(404, f"No saved page at {escape(request.url.path)}.")
        return await self._saved_page(page, base_url)

    def _category(self, host: str, request: Request, base_url: str) -> Response:
        site = self.pages.sites.get(host)
        if site is None or len(site.products) < 2:
            return _html_status(
                404, f"{escape(host)} has fewer than two saved product pages, so no category."
            )

        page_text = request.query_params.get("page", "1")
        page_number = int(page_text) if page_text.isdigit() else 0
        html = render_category_page(site, base_url=base_url, page=page_number, page_size=self.page_size)
        if html is None:
            return _html_status(404, f"Category page {escape(page_text)} of {escape(host)} does not exist.")
        return HTMLResponse(html)

    async def _saved_page(self, page: SavedPage, base_url: str) -> Response:
        key = (page.id, base_url)
        cached = self._rewritten.get(key)
        if cached is None:
            # Reading, gunzipping and rewriting a large page takes milliseconds;
            # a worker thread keeps that off the loop so concurrent requests overlap.
            hosts = same_site_hosts_of(page, self.pages.sites[page.host])
            cached = await anyio.to_thread.run_sync(render_saved_page, page, base_url, hosts)
            self._rewritten[key] = cached
            if len(self._rewritten) > _REWRITTEN_CACHE_SIZE:
                self._rewritten.popitem(last=False)

        body, charset = cached
        media_type = f"text/html; charset={web_charset_label(charset)}" if charset else "text/html"
        return Response(body, headers={"Content-Type": media_type})


def render_saved_page(page: SavedPage, base_url: str, same_site_hosts: set[str]) -> tuple[bytes, str | None]:
    """Return the page's bytes with links rewritten, and its charset."""
    original = page.read_bytes()
    charset = page.charset(original)
    body = rewrite_links(
        original, page_url=page.url, base_url=base_url, same_site_hosts=same_site_hosts, charset=charset
    )
    return body, charset


def same_site_hosts_of(page: SavedPage, site: Site) -> set[str]:
    """Return the hosts whose links on `page` stay on the sandbox: its own and its labelled product links'."""
    hosts = {site.host}
    for link in page.product_links:
        host = urlsplit(link).hostname
        if host:
            hosts.add(host.lower())
    return hosts


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _html_status(status: int, message: str) -> HTMLResponse:
    body = f"<!DOCTYPE html><title>{status}</title><h1>{status}</h1><p>{message}</p>"
    return HTMLResponse(body, status_code=status)


def web_charset_label(codec_name: str) -> str:
    """Return the label browsers expect for a Python codec name (cp1252 is windows-1252)."""
    name = codecs.lookup(codec_name).name
    if name.startswith("cp125"):
        return "windows-" + name[2:]
    if name.startswith("iso8859-"):
        return "iso-8859-" + name.removeprefix("iso8859-")
    return name.replace("_", "-")

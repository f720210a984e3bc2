"""robots.txt: RFC 9309 matching, and the direct fetcher and the tool against a real robots.txt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.app import create_server
from product_extractor.web.direct import DirectFetcher
from product_extractor.web.robots import (
    UNREACHABLE_RETRY_S,
    RobotsDisallowed,
    RobotsOptions,
    RobotsResponse,
    RobotsTxt,
    RobotsTxtCache,
    RobotsTxtUnreachable,
    normalise_path,
    wildcard_match,
)
from product_extractor.web.url_safety import AllowList, UrlPolicy
from tests.conftest import SANDBOX_ALLOW_HOSTS, sandbox_settings
from tests.local_server import serve_app

TOKEN = "product-extractor"
OUTDOOR = "www.sample-outdoor.example"
BOOKS = "www.sample-books.example"
TENT = f"https://{OUTDOOR}/products/ridgeline-2-tent"
ORCHARD = f"https://{BOOKS}/book/the-quiet-orchard"
BOOKS_SEARCH = f"https://{BOOKS}/search?q=garden"

# (robots.txt, path and query, allowed, the deciding rule or None)
DECISIONS: list[tuple[str, str, bool, str | None]] = [
    ("User-agent: *\nDisallow: /cart", "/cart", False, "Disallow: /cart"),
    ("User-agent: *\nDisallow: /cart", "/cart/items?id=1", False, "Disallow: /cart"),
    ("User-agent: *\nDisallow: /cart", "/carts", False, "Disallow: /cart"),  # a prefix match
    ("User-agent: *\nDisallow: /cart", "/Cart", True, None),  # paths are case-sensitive
    ("User-agent: *\nDisallow: /cart", "/shop/cart", True, None),
    # The longest matching pattern wins, whichever comes first.
    ("User-agent: *\nDisallow: /p\nAllow: /p/public", "/p/public/1", True, "Allow: /p/public"),
    ("User-agent: *\nAllow: /p/public\nDisallow: /p", "/p/public/1", True, "Allow: /p/public"),
    ("User-agent: *\nAllow: /p\nDisallow: /p/private", "/p/private/2", False, "Disallow: /p/private"),
    ("User-agent: *\nDisallow: /page\nAllow: /page", "/page", True, "Allow: /page"),  # a tie: Allow
    ("User-agent: *\nDisallow: /*.pdf$", "/docs/a.pdf", False, "Disallow: /*.pdf$"),
    ("User-agent: *\nDisallow: /*.pdf$", "/docs/a.pdf?download=1", True, None),
    ("User-agent: *\nDisallow: /*?sort=", "/c/lamps?sort=price", False, "Disallow: /*?sort="),
    ("User-agent: *\nDisallow: /*?sort=", "/c/lamps", True, None),
    ("User-agent: *\nDisallow: /search$", "/search", False, "Disallow: /search$"),
    ("User-agent: *\nDisallow: /search$", "/search/lamps", True, None),
    ("User-agent: *\nDisallow: /", "/", False, "Disallow: /"),
    ("User-agent: *\nDisallow: /", "/robots.txt", True, None),  # always allowed
    ("User-agent: *\nDisallow:", "/anything", True, None),
    ("", "/anything", True, None),
    ("User-agent: *\nDisallow: /caf%c3%a9", "/caf%C3%A9/menu", False, "Disallow: /caf%C3%A9"),
    ("User-agent: *\nDisallow: /café", "/caf%C3%A9", False, "Disallow: /caf%C3%A9"),
    ("User-agent: *\nDisallow: /%7Euser", "/~user/page", False, "Disallow: /~user"),
    ("User-agent: *\nDisallow: /a%2Fb", "/a/b", True, None),  # an escaped / is not a /
    ("Disallow: /early\nUser-agent: *\nDisallow: /late", "/early", True, None),  # no group yet
    ("User-agent: *\n# Disallow: /commented\nDisallow: /a # note", "/commented", True, None),
    ("User-agent: *\n# Disallow: /commented\nDisallow: /a # note", "/a", False, "Disallow: /a"),
    ("\ufeffUser-agent: *\nDisallow: /bom", "/bom", False, "Disallow: /bom"),
    ("USER-AGENT: *\nDISALLOW: /upper", "/upper", False, "Disallow: /upper"),
    ("User-agent: *\r\nDisallow: /crlf\r\n", "/crlf", False, "Disallow: /crlf"),
    ("User-agent: *\nSitemap: /s.xml\nCrawl-delay: 5\nDisallow: /x", "/x", False, "Disallow: /x"),
]


@pytest.mark.parametrize(("robots", "path", "allowed", "rule"), DECISIONS)
def test_robots_decision(robots: str, path: str, allowed: bool, rule: str | None) -> None:
    decision = RobotsTxt.parse(robots).decide(path, TOKEN)
    assert decision.allowed is allowed
    assert (str(decision.rule) if decision.rule else None) == rule


# (robots.txt, path, allowed, the group that applied)
OURS_AND_ALL = "User-agent: *\nDisallow: /\n\nUser-agent: product-extractor\nDisallow: /private"
OURS_TWICE = "User-agent: product-extractor\nDisallow: /a\n\nUser-agent: product-extractor\nDisallow: /b"
OTHER_AND_ALL = "User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /tmp"
GROUPS: list[tuple[str, str, bool, str | None]] = [
    (OURS_AND_ALL, "/shop", True, TOKEN),
    (OURS_AND_ALL, "/private", False, TOKEN),
    ("User-agent: Product-Extractor/1.0 (+https://x.example)\nDisallow: /x", "/x", False, TOKEN),
    ("User-agent: otherbot\nUser-agent: product-extractor\nDisallow: /shared", "/shared", False, TOKEN),
    (OURS_TWICE, "/a", False, TOKEN),  # two groups for one agent combine
    (OURS_TWICE, "/b", False, TOKEN),
    ("User-agent: otherbot\nDisallow: /", "/page", True, None),
    (OTHER_AND_ALL, "/page", True, "*"),
    (OTHER_AND_ALL, "/tmp/1", False, "*"),
    ("User-agent: product-extractor-beta\nDisallow: /", "/page", True, None),  # not a prefix match
    ("User-agent: a\nDisallow:\nUser-agent: product-extractor\nDisallow: /p", "/p", False, TOKEN),
]


@pytest.mark.parametrize(("robots", "path", "allowed", "group"), GROUPS)
def test_robots_group_choice(robots: str, path: str, allowed: bool, group: str | None) -> None:
    decision = RobotsTxt.parse(robots).decide(path, TOKEN)
    assert decision.allowed is allowed
    assert decision.group == group


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("/a*", "/a", True),
        ("/a*", "/abc", True),
        ("/a*c", "/abc", True),
        ("/a*c", "/abcd", False),
        ("*", "", True),
        ("", "", True),
        ("", "/", False),
        ("/*/*/x", "/a/b/x", True),
        ("/*/*/x", "/a/x", False),
        ("/a**b", "/ab", True),
        ("/a*b*c*d*e*f*g*h*z", "/" + "abcdefgh" * 200, False),
        ("/a*b*c*d*e*f*g*h*z", "/" + "abcdefgh" * 200 + "z", True),
    ],
)
def test_wildcard_match(pattern: str, text: str, matches: bool) -> None:
    assert wildcard_match(pattern, text) is matches


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/café", "/caf%C3%A9"),
        ("/%7euser", "/~user"),
        ("/%41%2f", "/A%2F"),
        ("/a%zz", "/a%zz"),
        ("/*.pdf$", "/*.pdf$"),
    ],
)
def test_normalise_path(text: str, normalised: str) -> None:
    assert normalise_path(text) == normalised


def test_robots_options_reject_bad_token() -> None:
    with pytest.raises(ValueError, match=r"product token 'my bot/1\.0' is invalid"):
        RobotsOptions(product_token="my bot/1.0")


# The direct fetcher against the sandbox shop

SANDBOX_POLICY = UrlPolicy(AllowList.parse(SANDBOX_ALLOW_HOSTS))


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR) as running:
        yield running


def robots_requests(shop: RunningShop) -> int:
    return sum(record.path == "/robots.txt" for record in shop.request_log())


def page_requests(shop: RunningShop) -> list[str]:
    return [record.path for record in shop.request_log() if record.path != "/robots.txt"]


async def fetch_all(urls: list[str], robots: RobotsOptions | None = None) -> dict[str, Any]:
    """Fetch `urls` at once with one direct fetcher; return each URL's page or error."""
    outcomes: dict[str, Any] = {}
    fetcher = DirectFetcher(policy=SANDBOX_POLICY, robots=robots)

    async def fetch_one(url: str) -> None:
        try:
            outcomes[url] = await fetcher.fetch(url)
        except Exception as error:
            outcomes[url] = error

    try:
        async with anyio.create_task_group() as group:
            for url in urls:
                group.start_soon(fetch_one, url)
    finally:
        await fetcher.aclose()
    return outcomes


@pytest.mark.anyio
async def test_disallowed_page_names_rule(shop: RunningShop) -> None:
    shop.set_robots_txt(f"User-agent: *\nDisallow: /{BOOKS}/book/\n")
    url = shop.url_for(ORCHARD)

    [outcome] = (await fetch_all([url])).values()

    assert isinstance(outcome, RobotsDisallowed)
    message = str(outcome)
    assert f"{url} is disallowed by {shop.base_url}/robots.txt" in message
    assert f"rule 'Disallow: /{BOOKS}/book/' on line 2" in message
    assert "user-agent '*'" in message
    assert "PRODUCT_EXTRACTOR_RESPECT_ROBOTS_TXT=false" in message
    assert outcome.requests == 0
    assert page_requests(shop) == []


@pytest.mark.anyio
async def test_robots_fetched_once_per_host(shop: RunningShop) -> None:
    urls = [url for site in shop.index()["sites"] for url in site["product_urls"]]

    outcomes = await fetch_all(urls)

    assert len(urls) >= 8
    assert all(not isinstance(outcome, Exception) for outcome in outcomes.values())
    assert robots_requests(shop) == 1
    assert len(page_requests(shop)) == len(urls)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 503, 429])
async def test_unreachable_robots_disallows_all(shop: RunningShop, status: int) -> None:
    shop.set_robots_txt("", status=status)
    url = shop.url_for(TENT)

    [outcome] = (await fetch_all([url])).values()

    assert isinstance(outcome, RobotsTxtUnreachable)
    assert f"{shop.base_url}/robots.txt answered HTTP {status}" in str(outcome)
    assert "RFC 9309" in str(outcome)
    assert page_requests(shop) == []


@pytest.mark.anyio
@pytest.mark.parametrize("status", [404, 403, 410])
async def test_unavailable_robots_allows_all(shop: RunningShop, status: int) -> None:
    shop.set_robots_txt("", status=status)

    [outcome] = (await fetch_all([shop.url_for(TENT)])).values()

    assert not isinstance(outcome, Exception)
    assert robots_requests(shop) == 1


@pytest.mark.anyio
async def test_robots_disabled_skips_file(shop: RunningShop) -> None:
    shop.set_robots_txt("User-agent: *\nDisallow: /\n")

    [outcome] = (await fetch_all([shop.url_for(TENT)], RobotsOptions(enabled=False))).values()

    assert not isinstance(outcome, Exception)
    assert robots_requests(shop) == 0


@pytest.mark.anyio
async def test_robots_group_for_product_token(shop: RunningShop) -> None:
    shop.set_robots_txt(f"User-agent: *\nDisallow: /\n\nUser-agent: product-extractor\nDisallow: /{BOOKS}/\n")

    outcomes = await fetch_all([shop.url_for(TENT), shop.url_for(ORCHARD)])

    assert not isinstance(outcomes[shop.url_for(TENT)], Exception)
    assert isinstance(outcomes[shop.url_for(ORCHARD)], RobotsDisallowed)
    assert "user-agent 'product-extractor'" in str(outcomes[shop.url_for(ORCHARD)])


async def redirected_robots(_request: Request) -> Response:
    return Response(status_code=301, headers={"location": "/real-robots.txt"})


async def real_robots(_request: Request) -> Response:
    return PlainTextResponse("User-agent: *\nDisallow: /private\n")


async def robots_to_private(_request: Request) -> Response:
    return Response(status_code=302, headers={"location": "http://10.0.0.1/robots.txt"})


async def large_robots(_request: Request) -> Response:
    padding = "# padding to pass the 500 KiB that count\n" * 14_000
    return PlainTextResponse(f"User-agent: *\nDisallow: /early\n{padding}Disallow: /late\n")


async def html_page(_request: Request) -> Response:
    return Response("<html><body><h1>Page</h1></body></html>", media_type="text/html")


PAGES = [Route("/private", html_page), Route("/early", html_page), Route("/late", html_page)]


@pytest.mark.anyio
async def test_robots_redirect_followed() -> None:
    app = Starlette(
        routes=[Route("/robots.txt", redirected_robots), Route("/real-robots.txt", real_robots), *PAGES]
    )
    with serve_app(app) as base_url:
        outcomes = await fetch_all([f"{base_url}/private", f"{base_url}/early"])

    assert isinstance(outcomes[f"{base_url}/private"], RobotsDisallowed)
    assert "rule 'Disallow: /private'" in str(outcomes[f"{base_url}/private"])
    assert not isinstance(outcomes[f"{base_url}/early"], Exception)


@pytest.mark.anyio
async def test_robots_redirect_to_private_ignored() -> None:
    app = Starlette(routes=[Route("/robots.txt", robots_to_private), *PAGES])
    with serve_app(app) as base_url:
        fetcher = DirectFetcher(policy=SANDBOX_POLICY)
        try:
            page = await fetcher.fetch(f"{base_url}/private")
        finally:
            await fetcher.aclose()

    # URL safety rejects the redirect before connecting, so robots.txt counts as unavailable.
    assert "<h1>Page</h1>" in page.text


@pytest.mark.anyio
async def test_robots_past_500_kib_ignored() -> None:
    app = Starlette(routes=[Route("/robots.txt", large_robots), *PAGES])
    with serve_app(app) as base_url:
        outcomes = await fetch_all([f"{base_url}/early", f"{base_url}/late"])

    assert isinstance(outcomes[f"{base_url}/early"], RobotsDisallowed)
    assert not isinstance(outcomes[f"{base_url}/late"], Exception)


# The cache's lifetime, with a clock the test moves


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def get_robots(url: str) -> RobotsResponse:
    async with httpx2.AsyncClient() as client:
        response = await client.get(url)
    return RobotsResponse(response.status_code, response.headers.get("location"), response.content)


@pytest.mark.anyio
async def test_robots_refetched_after_ttl(shop: RunningShop) -> None:
    clock = Clock()
    cache = RobotsTxtCache(get_robots, RobotsOptions(ttl_s=600), clock=clock)
    url = shop.url_for(TENT)
    shop.set_robots_txt(f"User-agent: *\nDisallow: /{OUTDOOR}/\n")

    with pytest.raises(RobotsDisallowed):
        await cache.check(url)
    shop.set_robots_txt("User-agent: *\nDisallow:\n")
    clock.now += 599
    with pytest.raises(RobotsDisallowed):
        await cache.check(url)  # still the cached file
    clock.now += 2
    await cache.check(url)

    assert robots_requests(shop) == 2


@pytest.mark.anyio
async def test_unreachable_robots_retried_soon(shop: RunningShop) -> None:
    clock = Clock()
    cache = RobotsTxtCache(get_robots, RobotsOptions(), clock=clock)
    url = shop.url_for(TENT)
    shop.set_robots_txt("", status=503)

    with pytest.raises(RobotsTxtUnreachable):
        await cache.check(url)
    shop.set_robots_txt("User-agent: *\nDisallow:\n")
    clock.now += UNREACHABLE_RETRY_S - 1
    with pytest.raises(RobotsTxtUnreachable):
        await cache.check(url)
    clock.now += 2
    await cache.check(url)

    assert robots_requests(shop) == 2


# The tool: pages robots.txt disallows fail, and every other URL keeps its products


@pytest.mark.anyio
async def test_tool_reports_disallowed_pages(shop: RunningShop) -> None:
    shop.set_robots_txt(
        f"User-agent: *\nDisallow: /{OUTDOOR}/products/ridgeline\nDisallow: /{BOOKS}/search\n"
    )
    outdoor = shop.category_url(OUTDOOR)
    books = shop.category_url(BOOKS)
    search = shop.url_for(BOOKS_SEARCH)

    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", {"urls": [outdoor, books, search]})

    assert result.structured_content is not None
    entries = {entry["url"]: entry for entry in result.structured_content["url_results"]}
    assert entries[outdoor]["status"] == "partial"
    assert entries[outdoor]["failed_product_pages"] == 1
    assert entries[outdoor]["products_found"] == 3
    assert f"Disallow: /{OUTDOOR}/products/ridgeline" in entries[outdoor]["error"]
    assert entries[books]["status"] == "ok"
    assert entries[books]["products_found"] == 3
    assert entries[search]["status"] == "failed"
    assert f"is disallowed by {shop.base_url}/robots.txt" in entries[search]["error"]
    assert robots_requests(shop) == 1
    assert not any("ridgeline" in path or "/search" in path for path in page_requests(shop))


@pytest.mark.anyio
async def test_tool_ignores_robots_when_off(shop: RunningShop) -> None:
    shop.set_robots_txt("User-agent: *\nDisallow: /\n")
    outdoor = shop.category_url(OUTDOOR)

    async with Client(create_server(sandbox_settings(respect_robots_txt=False))) as client:
        result = await client.call_tool("extract_products", {"urls": [outdoor]})

    assert result.structured_content is not None
    assert result.structured_content["url_results"][0]["status"] == "ok"
    assert robots_requests(shop) == 0

"""The page cache through a real MCP client, against the sandbox shop and sandbox Bright Data on 127.0.0.1.

Every test gets its own empty cache folder from the `page_cache_dir` fixture.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import diskcache
import diskcache.core
import httpx2 as httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from product_extractor.sandbox import (
    SAMPLE_SHOP_DIR,
    RunningBrightData,
    RunningShop,
    running_brightdata,
    running_shop,
)
from product_extractor.server.app import create_server
from product_extractor.server.settings import Settings
from product_extractor.web.fetcher import Page
from product_extractor.web.page_cache import PageCache, PageCacheConfig, cache_key_url, entry_key
from tests.conftest import sandbox_settings, server_environment
from tests.shop_helpers import write_generated_shop

pytestmark = pytest.mark.anyio

TOKEN = "cache-token-3b8e61d0"
BOOKS = "www.sample-books.example"
PROVENANCE = ("from_cache", "cache_age_s")


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    with running_shop(SAMPLE_SHOP_DIR, latency=0.01, seed=3) as running:
        yield running


@pytest.fixture
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, latency=0.01, seed=3) as running:
        yield running


def brightdata_settings(brightdata: RunningBrightData, **overrides: Any) -> Settings:
    return sandbox_settings(brightdata_api_token=TOKEN, brightdata_api_url=brightdata.base_url, **overrides)


async def call(arguments: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    async with Client(create_server(settings or sandbox_settings())) as client:
        return structured(await client.call_tool("extract_products", arguments))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def text_of(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


def logged_requests(base_url: str) -> list[dict[str, Any]]:
    """Return the page requests a sandbox server logged, read from its /_log over HTTP.

    The shop's robots.txt requests are left out: each new server process fetches it once.
    """
    requests: list[dict[str, Any]] = httpx.get(f"{base_url}/_log").json()["requests"]
    return [record for record in requests if record.get("path") != "/robots.txt"]


def clear_log(base_url: str) -> None:
    httpx.delete(f"{base_url}/_log").raise_for_status()


def last_trace_record(folder: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(next(folder.glob("traces-*.jsonl")).read_text().splitlines()[-1])
    return record


def without_provenance(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in record.items() if key not in PROVENANCE} for record in products]


def books_category(shop: RunningShop) -> tuple[str, int]:
    """Return the books site's category URL and its page count: the listing plus one per product."""
    site = next(site for site in shop.index()["sites"] if site["host"] == BOOKS)
    return site["category_url"], 1 + len(site["product_urls"])


async def test_repeat_call_sends_no_request(shop: RunningShop, tmp_path: Path) -> None:
    category, pages = books_category(shop)
    settings = sandbox_settings(trace_dir=tmp_path)
    first = await call({"urls": [category]}, settings)
    clear_log(shop.base_url)

    async with Client(create_server(settings)) as client:
        reply = await client.call_tool("extract_products", {"urls": [category]})
    second = structured(reply)

    assert logged_requests(shop.base_url) == []
    assert second["stats"]["requests"] == 0
    assert second["stats"]["cache_hits"] == pages
    assert second["url_results"][0]["cache_hits"] == pages
    assert second["url_results"][0]["requests"] == 0
    assert second["url_results"][0]["status"] == "ok"
    assert first["stats"]["cache_hits"] == 0
    assert first["stats"]["requests"] == pages
    assert without_provenance(second["products"]) == without_provenance(first["products"])
    assert all(record["from_cache"] is False for record in first["products"])
    assert all("cache_age_s" not in record for record in first["products"])
    assert all(record["from_cache"] is True for record in second["products"])
    assert all(record["cache_age_s"] >= 0 for record in second["products"])
    assert f"{pages} pages from the page cache" in text_of(reply)
    trace = last_trace_record(tmp_path)
    assert trace["urls"][0]["cache_hits"] == pages
    assert trace["result"]["stats"]["cache_hits"] == pages


@pytest.mark.corpus
async def test_real_pages_same_from_cache(corpus_dir: Path) -> None:
    # Saved real pages in many encodings and sizes come back from the cache as the same products.
    with running_shop(corpus_dir) as real_shop:
        categories = sorted(
            (site for site in real_shop.index()["sites"] if site["category_url"]),
            key=lambda site: -len(site["product_urls"]),
        )[:3]
        arguments = {"urls": [site["category_url"] for site in categories], "max_products_per_url": 5}
        first = await call(arguments)
        clear_log(real_shop.base_url)
        second = await call(arguments)
        requests = logged_requests(real_shop.base_url)

    assert first["products"]
    assert requests == []
    assert second["stats"]["cache_hits"] == first["stats"]["pages_parsed"]
    assert without_provenance(second["products"]) == without_provenance(first["products"])


async def test_brightdata_repeat_bills_nothing(brightdata: RunningBrightData) -> None:
    settings = brightdata_settings(brightdata)
    urls = [f"https://{BOOKS}/_category"]
    first = await call({"urls": urls}, settings)
    billed = brightdata.billed_requests()
    clear_log(brightdata.base_url)

    second = await call({"urls": urls}, settings)

    assert logged_requests(brightdata.base_url) == []
    assert brightdata.billed_requests() == billed
    assert second["stats"]["billed_requests"] == 0
    assert second["stats"]["estimated_cost_usd"] == 0
    assert second["stats"]["requests"] == 0
    assert second["stats"]["cache_hits"] == first["stats"]["billed_requests"]
    assert second["url_results"][0]["backend"] == "brightdata-unlocker"
    assert without_provenance(second["products"]) == without_provenance(first["products"])
    assert all(record["from_cache"] is True for record in second["products"])


async def test_no_cache_refetches_and_stores(shop: RunningShop) -> None:
    category, pages = books_category(shop)
    await call({"urls": [category]})
    clear_log(shop.base_url)

    refreshed = await call({"urls": [category], "no_cache": True})
    refetched = len(logged_requests(shop.base_url))
    clear_log(shop.base_url)
    after = await call({"urls": [category]})

    assert refetched == pages
    assert refreshed["stats"]["cache_hits"] == 0
    assert all(record["from_cache"] is False for record in refreshed["products"])
    assert logged_requests(shop.base_url) == []
    assert after["stats"]["cache_hits"] == pages


async def test_no_cache_first_call_still_stores(shop: RunningShop) -> None:
    category, pages = books_category(shop)
    await call({"urls": [category], "no_cache": True})
    clear_log(shop.base_url)
    after = await call({"urls": [category]})
    assert logged_requests(shop.base_url) == []
    assert after["stats"]["cache_hits"] == pages


async def test_expired_entries_refetched(shop: RunningShop) -> None:
    category, pages = books_category(shop)
    ttl_s = 0.3
    settings = sandbox_settings(cache_ttl_s=ttl_s)
    await call({"urls": [category]}, settings)
    await anyio.sleep(ttl_s + 0.1)
    clear_log(shop.base_url)

    second = await call({"urls": [category]}, settings)

    assert len(logged_requests(shop.base_url)) == pages
    assert second["stats"]["cache_hits"] == 0
    assert second["stats"]["requests"] == pages


async def test_entries_carry_diskcache_expiry(shop: RunningShop, page_cache_dir: Path) -> None:
    category, pages = books_category(shop)
    ttl_s = 120.0
    before = time.time()
    await call({"urls": [category]}, sandbox_settings(cache_ttl_s=ttl_s))
    after = time.time()

    cache = diskcache.Cache(str(page_cache_dir))
    try:
        _value, expire_time = cache.get(entry_key("direct", category), expire_time=True)
        stored = len(cache)
        # diskcache drops every entry whose expiry time has passed.
        expired = cache.expire(now=after + ttl_s + 1)
    finally:
        cache.close()
    assert before + ttl_s <= expire_time <= after + ttl_s
    assert stored == pages
    assert expired == pages


async def test_shorter_ttl_reader_misses(page_cache_dir: Path) -> None:
    page = sample_page("https://shop.example/p/1")
    writer = PageCache(PageCacheConfig(page_cache_dir, ttl_s=3600))
    reader = PageCache(PageCacheConfig(page_cache_dir, ttl_s=0.05))
    await writer.put("direct", page.url, page)
    await anyio.sleep(0.1)
    assert await writer.get("direct", page.url) is not None
    assert await reader.get("direct", page.url) is None


async def test_cancelled_job_rerun_pays_rest(tmp_path: Path) -> None:
    host = "www.lamps.example"
    write_generated_shop(tmp_path, host, products=6)
    category = f"https://{host}/_category"
    with running_brightdata(tmp_path, token=TOKEN) as brightdata:
        # The listing and the first product page respond at once; the other product pages hang.
        brightdata.set_fault(f"https://{host}/lamps/", latency=30.0)
        brightdata.set_fault(f"https://{host}/lamps/lamp-1", latency=0.0)
        async with Client(create_server(brightdata_settings(brightdata))) as client:
            with anyio.move_on_after(1.5):
                await client.call_tool("extract_products", {"urls": [category]})
            billed_before_rerun = brightdata.billed_requests()

            brightdata.clear_faults()
            rerun = structured(await client.call_tool("extract_products", {"urls": [category]}))
            billed_by_rerun = brightdata.billed_requests() - billed_before_rerun

    assert billed_before_rerun == 2
    assert rerun["stats"]["cache_hits"] == 2
    assert rerun["stats"]["billed_requests"] == 5
    assert billed_by_rerun == 5
    assert rerun["url_results"][0]["status"] == "ok"
    assert [record["name"] for record in rerun["products"]] == [f"Test lamp {n}" for n in range(1, 7)]
    assert [record["from_cache"] for record in rerun["products"]] == [True] + [False] * 5


async def test_backends_keep_separate_entries(shop: RunningShop, brightdata: RunningBrightData) -> None:
    # The sandbox unlocker serves sandbox shop URLs too, so one URL can come from either backend.
    category, pages = books_category(shop)
    settings = brightdata_settings(brightdata)
    await call({"urls": [category], "backend": "direct"}, settings)
    clear_log(brightdata.base_url)

    through_brightdata = await call({"urls": [category], "backend": "brightdata"}, settings)
    unlocker_requests = len(logged_requests(brightdata.base_url))
    clear_log(shop.base_url)
    clear_log(brightdata.base_url)
    direct_again = await call({"urls": [category], "backend": "direct"}, settings)
    brightdata_again = await call({"urls": [category], "backend": "brightdata"}, settings)

    assert through_brightdata["stats"]["cache_hits"] == 0
    assert through_brightdata["stats"]["billed_requests"] == pages
    assert unlocker_requests == pages
    assert direct_again["stats"]["cache_hits"] == pages
    assert direct_again["url_results"][0]["backend"] == "direct"
    assert brightdata_again["stats"]["cache_hits"] == pages
    assert brightdata_again["url_results"][0]["backend"] == "brightdata-unlocker"
    assert logged_requests(shop.base_url) == []
    assert logged_requests(brightdata.base_url) == []


async def test_auto_keeps_own_entries(shop: RunningShop, brightdata: RunningBrightData) -> None:
    category, pages = books_category(shop)
    settings = brightdata_settings(brightdata)
    await call({"urls": [category], "backend": "direct"}, settings)
    clear_log(shop.base_url)
    auto = await call({"urls": [category], "backend": "auto"}, settings)
    assert auto["stats"]["cache_hits"] == 0
    assert len(logged_requests(shop.base_url)) == pages


async def test_failed_page_not_cached(shop: RunningShop) -> None:
    url = f"{shop.base_url}/{BOOKS}/no-such-page"
    first = await call({"urls": [url]})
    second = await call({"urls": [url]})
    assert first["url_results"][0]["status"] == "failed"
    assert second["stats"]["cache_hits"] == 0
    assert len(logged_requests(shop.base_url)) == 2


async def test_bot_wall_not_cached(tmp_path: Path) -> None:
    original = f"https://{BOOKS}/book/the-quiet-orchard"
    (tmp_path / "pages").mkdir()
    wall = "<html><body><h1>Please verify you are a human</h1><div class='captcha'></div></body></html>"
    (tmp_path / "pages" / "wall.html").write_text(wall, encoding="utf-8")
    index = {"id": "wall", "kind": "product", "url": original, "file": "pages/wall.html"}
    (tmp_path / "index.jsonl").write_text(json.dumps(index) + "\n", encoding="utf-8")

    with running_shop(tmp_path) as walled_shop:
        url = walled_shop.url_for(original)
        await call({"urls": [url]})
        second = await call({"urls": [url]})
        requests = len(logged_requests(walled_shop.base_url))

    assert second["stats"]["cache_hits"] == 0
    assert requests == 2


async def test_fields_keep_cache_provenance(shop: RunningShop) -> None:
    category, _pages = books_category(shop)
    await call({"urls": [category]})
    second = await call({"urls": [category], "fields": ["name"]})
    assert second["products"]
    for record in second["products"]:
        assert set(record) == {"name", "source_url", "listing_url", "position", "from_cache", "cache_age_s"}


@pytest.mark.parametrize("breakage", ["file in place of folder", "corrupt database"])
async def test_unusable_folder_fetches_without_cache(
    shop: RunningShop, tmp_path: Path, caplog: pytest.LogCaptureFixture, breakage: str
) -> None:
    if breakage == "file in place of folder":
        folder = tmp_path / "not-a-folder"
        folder.write_text("a file where the cache folder should be")
    else:
        folder = tmp_path / "cache"
        folder.mkdir()
        (folder / "cache.db").write_bytes(b"this is not an SQLite database" * 100)
    category, pages = books_category(shop)
    caplog.set_level(logging.WARNING, logger="product_extractor.web.page_cache")

    async with Client(create_server(sandbox_settings(cache_dir=folder))) as client:
        first = structured(await client.call_tool("extract_products", {"urls": [category]}))
        second = structured(await client.call_tool("extract_products", {"urls": [category]}))

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "turned off for this process" in warnings[0]
    assert str(folder) in warnings[0]
    for result in (first, second):
        assert result["url_results"][0]["status"] == "ok"
        assert result["stats"]["cache_hits"] == 0
    assert len(logged_requests(shop.base_url)) == 2 * pages


async def test_unreadable_entry_refetched(shop: RunningShop, page_cache_dir: Path) -> None:
    category, _pages = books_category(shop)
    await call({"urls": [category]})
    cache = diskcache.Cache(str(page_cache_dir))
    try:
        cache.set(entry_key("direct", category), b"not compressed JSON")
    finally:
        cache.close()
    clear_log(shop.base_url)

    second = await call({"urls": [category]})

    assert [record["path"] for record in logged_requests(shop.base_url)] == [f"/{BOOKS}/_category"]
    assert second["url_results"][0]["status"] == "ok"
    assert second["stats"]["cache_hits"] == len(second["products"])


async def test_unpicklable_entry_turns_cache_off(
    shop: RunningShop, page_cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    category, pages = books_category(shop)
    await call({"urls": [category]})
    # A value in diskcache's pickle mode that does not unpickle, as another program could leave.
    with sqlite3.connect(page_cache_dir / "cache.db") as database:
        database.execute(
            "UPDATE Cache SET mode = ?, filename = NULL, value = ? WHERE key = ?",
            (diskcache.core.MODE_PICKLE, b"not a pickle", entry_key("direct", category)),
        )
    database.close()
    clear_log(shop.base_url)
    caplog.set_level(logging.WARNING, logger="product_extractor.web.page_cache")

    second = await call({"urls": [category]})

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "UnpicklingError" in warnings[0]
    assert second["url_results"][0]["status"] == "ok"
    assert second["stats"]["cache_hits"] == 0
    assert len(logged_requests(shop.base_url)) == pages


async def test_locked_cache_skips_store(page_cache_dir: Path) -> None:
    page = sample_page("https://shop.example/p/1")
    cache = PageCache(PageCacheConfig(page_cache_dir))
    await cache.put("direct", page.url, page)

    # Another process holding SQLite's write lock, as a second server writing a page would.
    holder = sqlite3.connect(page_cache_dir / "cache.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        other = sample_page("https://shop.example/p/2")
        await cache.put("direct", other.url, other)
        read_while_locked = await cache.get("direct", page.url)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert cache.busy_skips == 1
    assert read_while_locked is not None
    assert await cache.get("direct", other.url) is None
    await cache.put("direct", other.url, other)
    assert await cache.get("direct", other.url) is not None


async def test_unencodable_page_not_stored(page_cache_dir: Path) -> None:
    # UTF-7 decodes "+2AA-" to a lone surrogate (U+D800) without an error.
    page = dataclasses.replace(
        sample_page("https://shop.example/p/1"),
        body=b"<p>lone +2AA- surrogate</p>",
        content_type="text/html; charset=utf-7",
    )
    cache = PageCache(PageCacheConfig(page_cache_dir))
    await cache.put("direct", page.url, page)
    assert await cache.get("direct", page.url) is None
    assert cache.usable


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
async def test_no_file_open_between_operations(page_cache_dir: Path) -> None:
    cache = PageCache(PageCacheConfig(page_cache_dir))
    async with anyio.create_task_group() as group:
        for number in range(20):
            page = sample_page(f"https://shop.example/p/{number}")
            group.start_soon(cache.put, "direct", page.url, page)
    hits = [await cache.get("direct", f"https://shop.example/p/{number}") for number in range(20)]
    assert all(hit is not None for hit in hits)
    assert open_files_under(page_cache_dir) == []


def open_files_under(folder: Path) -> list[str]:
    """Return the paths under `folder` that this process has open, read from /proc/self/fd."""
    paths = []
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            target = str(descriptor.readlink())
        except OSError:
            continue
        if target.startswith(str(folder)):
            paths.append(target)
    return paths


async def test_page_round_trip_keeps_fields(page_cache_dir: Path) -> None:
    page = sample_page("https://shop.example/p/1", requested="https://Shop.Example:443/p/1#reviews")
    cache = PageCache(PageCacheConfig(page_cache_dir))
    await cache.put("brightdata", page.requested_url, page)

    cached = await cache.get("brightdata", "https://shop.example/p/1")

    assert cached is not None
    assert cached.url == page.url
    assert cached.requested_url == "https://shop.example/p/1"
    assert cached.status == 200
    assert cached.text == page.text
    assert cached.redirects == page.redirects
    assert cached.backend == page.backend
    assert dict(cached.headers) == {"content-type": "text/html; charset=utf-8"}
    assert cached.requests == 0
    assert cached.billed_requests == 0
    assert cached.cache_age_s is not None
    assert await cache.get("direct", "https://shop.example/p/1") is None


def sample_page(url: str, *, requested: str | None = None) -> Page:
    text = (
        "<html><body><h1>Stock pot, 24 cm</h1>"
        "<p>Price: 89,00 € — in stock, ships in 2 days.</p></body></html>"
    )
    return Page(
        url=url,
        requested_url=requested or url,
        status=200,
        headers={"content-type": "text/html; charset=utf-8", "set-cookie": "session=1", "server": "x"},
        body=text.encode(),
        content_type="text/html; charset=utf-8",
        elapsed=0.1,
        billed_requests=1,
        redirects=["https://shop.example/old/p/1"],
        backend="brightdata-unlocker",
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTPS://Shop.Example/p/1", "https://shop.example/p/1"),
        ("https://shop.example", "https://shop.example/"),
        ("http://shop.example:80/a?b=1#reviews", "http://shop.example/a?b=1"),
        ("https://shop.example:443/a", "https://shop.example/a"),
        ("https://shop.example:8443/a", "https://shop.example:8443/a"),
        ("http://127.0.0.1:8080/www.ikea.com/p/", "http://127.0.0.1:8080/www.ikea.com/p/"),
        ("http://[::1]:9000/a", "http://[::1]:9000/a"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://shop.example/a?b=2&a=1", "https://shop.example/a?b=2&a=1"),
        ("https://shop.example/A%2Fb", "https://shop.example/A%2Fb"),
    ],
)
def test_cache_key_url_forms(given: str, expected: str) -> None:
    assert cache_key_url(given) == expected


async def test_no_cache_in_input_schema() -> None:
    async with Client(create_server(sandbox_settings())) as client:
        tool = (await client.list_tools()).tools[0]
    no_cache = tool.input_schema["properties"]["no_cache"]
    assert no_cache["type"] == "boolean"
    assert no_cache["default"] is False
    assert "page cache" in no_cache["description"]


async def test_cache_shared_between_processes(shop: RunningShop) -> None:
    category, pages = books_category(shop)
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "product_extractor.server", "serve"], env=server_environment()
    )
    async with Client(parameters) as client:
        first = structured(await client.call_tool("extract_products", {"urls": [category]}))
    clear_log(shop.base_url)

    second = await call({"urls": [category]})

    assert first["stats"]["requests"] == pages
    assert logged_requests(shop.base_url) == []
    assert second["stats"]["cache_hits"] == pages


def test_no_cache_setting_turns_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_NO_CACHE", "true")
    assert sandbox_settings().page_cache_config() is None


def test_cache_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_CACHE_DIR", str(tmp_path / "pages"))
    monkeypatch.setenv("PRODUCT_EXTRACTOR_CACHE_TTL_S", "90")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_CACHE_SIZE_LIMIT_MB", "64")
    config = sandbox_settings().page_cache_config()
    assert config is not None
    assert config.directory == tmp_path / "pages"
    assert config.ttl_s == 90
    assert config.size_limit_bytes == 64 * 1024 * 1024


def test_default_folder_under_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PRODUCT_EXTRACTOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = sandbox_settings().page_cache_config()
    assert config is not None
    assert config.directory == tmp_path / "product-extractor" / "pages"


def test_extract_command_uses_cache(shop: RunningShop) -> None:
    category, _pages = books_category(shop)

    def extract(*options: str) -> dict[str, Any]:
        command = [
            sys.executable,
            "-m",
            "product_extractor.server",
            "extract",
            category,
            "--max-products-per-url",
        ]
        completed = subprocess.run(
            [*command, "2", *options],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=server_environment(),
        )
        assert completed.returncode == 0, completed.stderr
        result: dict[str, Any] = json.loads(completed.stdout)
        return result

    first, second, refreshed = extract(), extract(), extract("--no-cache")

    assert first["stats"]["cache_hits"] == 0
    assert second["stats"]["cache_hits"] == 3
    assert second["stats"]["requests"] == 0
    assert refreshed["stats"]["cache_hits"] == 0
    assert refreshed["stats"]["requests"] == 3

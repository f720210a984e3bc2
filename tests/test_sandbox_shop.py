"""The sandbox shop over real HTTP on 127.0.0.1: the sample shop always, the saved corpus when present."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import httpx2
import pytest
from selectolax.lexbor import LexborHTMLParser

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, load_saved_pages, running_shop

OUTDOOR = "www.sample-outdoor.example"
BOOKS = "www.sample-books.example"
KITCHEN = "www.sample-kitchen.example"
TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"
TORCH = "https://www.sample-kitchen.example/item/creme-brulee-torch"
ORCHARD = "https://www.sample-books.example/book/the-quiet-orchard"
OUTDOOR_LISTING = "https://www.sample-outdoor.example/collections/tents-and-more"
UNSAVED_POLES = "https://www.sample-outdoor.example/products/canyon-trekking-poles"


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningShop]:
    with running_shop() as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as http:
        yield http


def hrefs(html: str, selector: str = "a[href]") -> list[str]:
    """Return the raw href values of the matching elements, in document order."""
    tree = LexborHTMLParser(html)
    return [node.attributes["href"] or "" for node in tree.css(selector)]


def resolved_links(response: httpx2.Response) -> list[str]:
    """Return the page's <a> links resolved as a browser would, against <base href> when present."""
    tree = LexborHTMLParser(response.text)
    base = tree.css_first("base[href]")
    document_url = str(response.url)
    if base is not None:
        document_url = urljoin(document_url, base.attributes["href"] or "")
    return [urljoin(document_url, href) for href in hrefs(response.text)]


# Saved pages and their links


def test_page_served_with_declared_charset(shop: RunningShop, client: httpx2.Client) -> None:
    response = client.get(shop.url_for(TORCH))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=windows-1252"
    assert b"Cr\xe8me Br\xfbl\xe9e Torch" in response.content
    assert '<h1 itemprop="name">Crème Brûlée Torch</h1>' in response.text


def test_gzip_page_served_decompressed(shop: RunningShop, client: httpx2.Client) -> None:
    response = client.get(shop.url_for(ORCHARD))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>The Quiet Orchard</h1>" in response.text


def test_same_site_links_rewritten(shop: RunningShop, client: httpx2.Client) -> None:
    links = hrefs(client.get(shop.url_for(TENT)).text)
    on_sandbox = f"{shop.base_url}/{OUTDOOR}"

    assert f"{on_sandbox}/collections/tents-and-more" in links  # was root-relative
    assert f"{on_sandbox}/" in links  # was https://www.sample-outdoor.example/
    assert f"{on_sandbox}/products/alpine-shell-jacket?colour=red" in links  # was absolute
    assert f"{on_sandbox}/products/trail-headlamp-300" in links  # was protocol-relative
    assert not [link for link in links if OUTDOOR in link and not link.startswith(on_sandbox)]


def test_off_site_and_relative_links_untouched(shop: RunningShop, client: httpx2.Client) -> None:
    html = client.get(shop.url_for(TENT)).text

    assert "https://www.example.org/reviews/ridgeline-2" in hrefs(html)
    assert "care-guide" in hrefs(html)
    assert hrefs(html, "link[rel=canonical]") == [TENT]
    assert 'src="https://www.sample-outdoor.example/media/ridgeline-2-tent.jpg"' in html


def test_base_href_points_at_sandbox(shop: RunningShop, client: httpx2.Client) -> None:
    html = client.get(shop.url_for(OUTDOOR_LISTING)).text

    assert hrefs(html, "base[href]") == [f"{shop.base_url}/{OUTDOOR}/"]


def test_listing_product_links_stay_on_sandbox(shop: RunningShop, client: httpx2.Client) -> None:
    for page in shop.pages:
        if page.kind != "listing":
            continue
        links = resolved_links(client.get(shop.url_for(page.url)))
        for product_link in page.product_links:
            assert shop.url_for(product_link) in links, f"{page.id}: {product_link}"


def test_pages_respond_without_added_delay(shop: RunningShop, client: httpx2.Client) -> None:
    client.get(shop.url_for(TENT))  # fills the rewritten-page cache
    started = time.monotonic()
    for _ in range(10):
        client.get(shop.url_for(TENT))
    seconds_per_request = (time.monotonic() - started) / 10

    # A listening socket without TCP_NODELAY adds about 40 ms per response.
    assert seconds_per_request < 0.02


def test_unsaved_product_returns_404(shop: RunningShop, client: httpx2.Client) -> None:
    response = client.get(shop.url_for(UNSAVED_POLES))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert len(response.content) < 500


def test_unknown_host_returns_404(shop: RunningShop, client: httpx2.Client) -> None:
    assert client.get(f"{shop.base_url}/www.not-saved.example/").status_code == 404


def test_query_string_selects_page(shop: RunningShop, client: httpx2.Client) -> None:
    listing = client.get(f"{shop.base_url}/{BOOKS}/search?q=garden")
    other_query = client.get(f"{shop.base_url}/{BOOKS}/search?q=moss")

    assert listing.status_code == 200
    assert "3 results for" in listing.text
    assert other_query.status_code == 404


# The generated category page and /_index


def test_category_lists_products_in_order(shop: RunningShop, client: httpx2.Client) -> None:
    for site in shop.index()["sites"]:
        response = client.get(site["category_url"])
        card_links = hrefs(response.text, ".product-card h2 a")

        assert response.status_code == 200
        assert card_links == site["product_urls"], site["host"]


def test_category_cards_show_name_price_image(shop: RunningShop, client: httpx2.Client) -> None:
    tree = LexborHTMLParser(client.get(shop.category_url(OUTDOOR)).text)
    names = [node.text() for node in tree.css(".product-card h2")]
    prices = [node.text() for node in tree.css(".product-card .price")]
    images = [node.attributes["src"] for node in tree.css(".product-card img")]

    assert names[0] == "Ridgeline 2 Trekking Tent"
    assert prices[0] == "€ 129.95"
    assert images[0] == "https://www.sample-outdoor.example/media/ridgeline-2-tent.jpg"
    assert len(names) == len(prices) == len(images) == 4


def test_category_paginates_with_rel_next(client: httpx2.Client) -> None:
    with running_shop(page_size=3) as shop:
        expected = shop.index()["sites"][0]["product_urls"]
        url: str | None = shop.category_url(OUTDOOR)
        pages_seen, collected = 0, []
        while url:
            html = client.get(url).text
            collected += hrefs(html, ".product-card h2 a")
            pages_seen += 1
            following = hrefs(html, "link[rel=next]")
            url = following[0] if following else None

        assert pages_seen == 2
        assert collected == expected
        assert hrefs(html, "a[rel=prev]") == [f"{shop.category_url(OUTDOOR)}?page=1"]
        assert client.get(f"{shop.category_url(OUTDOOR)}?page=3").status_code == 404
        assert client.get(f"{shop.category_url(OUTDOOR)}?page=x").status_code == 404


def test_index_lists_every_site(shop: RunningShop, client: httpx2.Client) -> None:
    index = client.get(f"{shop.base_url}/_index").json()
    sites = {site["host"]: site for site in index["sites"]}

    assert list(sites) == [OUTDOOR, BOOKS, KITCHEN]
    assert [len(site["product_urls"]) for site in sites.values()] == [4, 3, 3]
    assert [len(site["listing_urls"]) for site in sites.values()] == [1, 1, 1]
    assert [len(site["other_urls"]) for site in sites.values()] == [1, 1, 1]
    assert sites[OUTDOOR]["category_url"] == f"{shop.base_url}/{OUTDOOR}/_category"
    assert sites[BOOKS]["listing_urls"] == [f"{shop.base_url}/{BOOKS}/search?q=garden"]
    assert len(index["pages"]) == len(shop.pages)
    assert index == shop.index()


# Latency, errors and faults


def server_durations(shop: RunningShop) -> list[float]:
    return [record.duration for record in shop.request_log()]


def test_seeded_latency_repeats(client: httpx2.Client) -> None:
    runs = []
    for _ in range(2):
        with running_shop(latency=(0.02, 0.2), seed=7) as shop:
            for _ in range(4):
                client.get(shop.url_for(TENT))
            runs.append(server_durations(shop))

    assert all(0.02 <= duration < 0.25 for duration in runs[0])
    assert max(runs[0]) - min(runs[0]) > 0.02  # the draws differ from request to request
    assert runs[0] == pytest.approx(runs[1], abs=0.02)


def test_error_rate_repeats_with_seed(client: httpx2.Client) -> None:
    runs = []
    for _ in range(2):
        with running_shop(error_rate=0.5, seed=3) as shop:
            runs.append([client.get(shop.url_for(TENT)).status_code for _ in range(30)])

    assert set(runs[0]) == {200, 500}
    assert runs[0] == runs[1]


def test_index_and_log_never_delayed_or_failed(client: httpx2.Client) -> None:
    with running_shop(latency=2.0, error_rate=1.0) as shop:
        started = time.monotonic()
        index = client.get(f"{shop.base_url}/_index")
        log = client.get(f"{shop.base_url}/_log")
        elapsed = time.monotonic() - started

        assert index.status_code == 200
        assert log.status_code == 200
        assert elapsed < 1.0


def test_error_rate_one_fails_every_page(client: httpx2.Client) -> None:
    with running_shop(error_rate=1.0) as shop:
        response = client.get(shop.url_for(TENT))

        assert response.status_code == 500
        assert response.headers["x-sandbox-fault"] == "error-rate"


def test_per_host_status_fault(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(BOOKS, status=503)
    try:
        assert client.get(shop.url_for(ORCHARD)).status_code == 503
        assert client.get(shop.category_url(BOOKS)).status_code == 503
        assert client.get(shop.url_for(TENT)).status_code == 200
    finally:
        shop.clear_faults()

    assert client.get(shop.url_for(ORCHARD)).status_code == 200


def test_per_host_latency_times_out(shop: RunningShop) -> None:
    shop.set_fault(KITCHEN, latency=5.0)
    try:
        with httpx2.Client(timeout=0.5) as impatient:
            with pytest.raises(httpx2.ReadTimeout):
                impatient.get(shop.url_for(TORCH))
            assert impatient.get(shop.url_for(TENT)).status_code == 200
    finally:
        shop.clear_faults(KITCHEN)


def test_path_prefix_fault_beats_host(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(OUTDOOR, status=502)
    shop.set_fault(f"/{OUTDOOR}/products/ridgeline", status=429)
    try:
        assert client.get(shop.url_for(TENT)).status_code == 429
        assert client.get(shop.url_for(OUTDOOR_LISTING)).status_code == 502
    finally:
        shop.clear_faults()


def test_stop_ends_pending_delay_quickly() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        with running_shop(latency=30.0) as shop:
            pending = pool.submit(httpx2.get, shop.url_for(TENT), timeout=60)
            time.sleep(0.3)  # lets the request reach the shop and start its delay
            stop_started = time.monotonic()
        stop_seconds = time.monotonic() - stop_started
        response = pending.result(timeout=5)

    assert stop_seconds < 3.0
    assert response.status_code == 503


def test_status_burst_then_pages(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(BOOKS, status=503, burst=2)
    try:
        statuses = [client.get(shop.url_for(ORCHARD)).status_code for _ in range(4)]
    finally:
        shop.clear_faults()

    assert statuses == [503, 503, 200, 200]


def test_retry_after_sent_with_status(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(KITCHEN, status=429, retry_after="7")
    try:
        limited = client.get(shop.url_for(TORCH))
    finally:
        shop.clear_faults()

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"


def test_setting_fault_restarts_burst(shop: RunningShop, client: httpx2.Client) -> None:
    shop.set_fault(BOOKS, status=500, burst=1)
    try:
        first = [client.get(shop.url_for(ORCHARD)).status_code for _ in range(2)]
        shop.set_fault(BOOKS, status=500, burst=1)
        second = [client.get(shop.url_for(ORCHARD)).status_code for _ in range(2)]
    finally:
        shop.clear_faults()

    assert first == [500, 200]
    assert second == [500, 200]


# The request log


def test_request_log_records_overlap(client: httpx2.Client) -> None:
    with running_shop(latency=0.3) as shop:
        urls = [record["sandbox_url"] for record in shop.index()["pages"][:5]]
        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = list(pool.map(lambda url: httpx2.get(url, timeout=10).status_code, urls))
        records = shop.request_log()

        assert statuses == [200] * 5
        assert len(records) == 5
        assert max(record.start_monotonic for record in records) < min(
            record.end_monotonic for record in records
        )
        assert {record.host for record in records} == {OUTDOOR}
        assert all(record.end_time - record.start_time >= 0.29 for record in records)


def test_log_endpoint_reads_and_clears(shop: RunningShop, client: httpx2.Client) -> None:
    shop.clear_log()
    client.get(shop.url_for(TENT))
    client.get(shop.url_for(UNSAVED_POLES))

    logged = client.get(f"{shop.base_url}/_log").json()["requests"]
    cleared = client.delete(f"{shop.base_url}/_log").json()

    assert [(entry["path"], entry["status"]) for entry in logged] == [
        ("/www.sample-outdoor.example/products/ridgeline-2-tent", 200),
        ("/www.sample-outdoor.example/products/canyon-trekking-poles", 404),
    ]
    assert logged[0]["host"] == OUTDOOR
    assert set(logged[0]) >= {"start_monotonic", "end_monotonic", "start_time", "end_time"}
    assert cleared == {"cleared": 2}
    assert shop.request_log() == []


# robots.txt


def test_robots_txt_allows_all_by_default(client: httpx2.Client) -> None:
    with running_shop() as fresh:
        response = client.get(f"{fresh.base_url}/robots.txt")
        logged = fresh.request_log()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "User-agent: *\nDisallow:\n"
    assert [record.path for record in logged] == ["/robots.txt"]
    assert logged[0].host is None


def test_robots_txt_set_by_test(client: httpx2.Client) -> None:
    rules = f"User-agent: *\nDisallow: /{BOOKS}/search\n"
    with running_shop(robots_txt=rules) as fresh:
        first = client.get(f"{fresh.base_url}/robots.txt")
        fresh.set_robots_txt("", status=503)
        failing = client.get(f"{fresh.base_url}/robots.txt")

    assert first.text == rules
    assert failing.status_code == 503


def test_robots_txt_status_checked(shop: RunningShop) -> None:
    with pytest.raises(ValueError, match=r"robots\.txt status 99 is invalid"):
        shop.set_robots_txt("", status=99)


def test_cli_serves_robots_txt_file(tmp_path: Path) -> None:
    robots = tmp_path / "robots.txt"
    robots.write_text(f"User-agent: *\nDisallow: /{OUTDOOR}/\n", encoding="utf-8")
    command = [sys.executable, "-m", "product_extractor.sandbox", "shop", "--robots-txt", str(robots)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        response = httpx2.get(f"{base_url}/robots.txt", timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert response.text == robots.read_text(encoding="utf-8")


def test_cli_rejects_missing_robots_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.txt"
    command = [sys.executable, "-m", "product_extractor.sandbox", "shop", "--robots-txt", str(missing)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert result.returncode == 2
    assert "could not be read" in result.stderr


# The command line


def test_cli_port_zero_prints_url() -> None:
    command = [sys.executable, "-m", "product_extractor.sandbox", "shop", "--port", "0", "--page-size", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        response = httpx2.get(f"{base_url}/{OUTDOOR}/_category?page=2", timeout=10)

        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        assert response.status_code == 200
        assert len(hrefs(response.text, ".product-card h2 a")) == 2
    finally:
        process.terminate()
        process.wait(timeout=10)

    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert process.returncode in (0, -signal.SIGTERM)


def test_cli_rejects_bad_latency() -> None:
    command = [sys.executable, "-m", "product_extractor.sandbox", "shop", "--latency", "fast"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "latency 'fast' is invalid" in result.stderr


# The saved corpus, when present


@pytest.fixture(scope="module")
def corpus_shop(corpus_dir: Path) -> Iterator[RunningShop]:
    with running_shop(corpus_dir) as running:
        yield running


@pytest.mark.corpus
def test_corpus_every_page_served(corpus_shop: RunningShop, client: httpx2.Client) -> None:
    failures = [
        (page.id, response.status_code)
        for page in corpus_shop.pages
        if (response := client.get(corpus_shop.url_for(page.url))).status_code != 200
    ]

    assert failures == []


@pytest.mark.corpus
def test_corpus_cp1252_bytes_survive(corpus_shop: RunningShop, client: httpx2.Client) -> None:
    pages = [page for page in corpus_shop.pages if page.encoding == "cp1252"]
    assert pages

    strip_hrefs = re.compile(rb"""href\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
    for page in pages:
        response = client.get(corpus_shop.url_for(page.url))

        assert response.headers["content-type"] == "text/html; charset=windows-1252", page.id
        assert strip_hrefs.sub(b"", response.content) == strip_hrefs.sub(b"", page.read_bytes()), page.id


@pytest.mark.corpus
def test_corpus_listing_links_on_sandbox(corpus_shop: RunningShop, client: httpx2.Client) -> None:
    listings = [page for page in corpus_shop.pages if page.product_links]
    assert listings

    for page in listings:
        links = set(resolved_links(client.get(corpus_shop.url_for(page.url))))
        missing = [link for link in page.product_links if corpus_shop.url_for(link) not in links]

        assert missing == [], page.id


@pytest.mark.corpus
def test_corpus_category_pages(corpus_shop: RunningShop, corpus_dir: Path, client: httpx2.Client) -> None:
    saved = load_saved_pages(corpus_dir)
    expected_hosts = [host for host, site in saved.sites.items() if len(site.products) >= 2]
    sites = corpus_shop.index()["sites"]

    assert [site["host"] for site in sites if site["category_url"]] == expected_hosts
    for site in sites:
        if site["category_url"]:
            html = client.get(site["category_url"]).text
            assert hrefs(html, ".product-card h2 a") == site["product_urls"], site["host"]


def test_sample_shop_index_is_valid() -> None:
    pages = load_saved_pages(SAMPLE_SHOP_DIR)
    products = [page for page in pages if page.kind == "product"]

    assert len(pages) == 16
    assert all(page.labels.get("price") and page.labels.get("sku") for page in products)
    assert json.loads((SAMPLE_SHOP_DIR / "index.jsonl").read_text(encoding="utf-8").splitlines()[0])["id"]

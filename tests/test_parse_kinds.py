"""Page kind without structured data: small listings, home pages, site headings, and the generated categories.

The inline pages carry no JSON-LD, microdata or OpenGraph, so the visible
page alone decides whether they are a product page, a listing or neither.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from product_extractor.products import ParsedPage, parse_page
from product_extractor.sandbox.category import category_page_count, render_category_page
from product_extractor.sandbox.saved_pages import load_saved_pages

SHOP = "https://shop.example.com"


def _card(slug: str, name: str, price: str) -> str:
    return (
        '<li class="product-card">'
        f'<a href="/p/{slug}"><img src="/img/{slug}.jpg" alt="{name}"></a>'
        f'<h2 class="product-name"><a href="/p/{slug}">{name}</a></h2>'
        f'<p class="price">{price}</p>'
        "</li>"
    )


def _search_page(*cards: str, pagination: str = "") -> str:
    return (
        "<html><head><title>Search results | Shop</title></head><body>"
        '<header><a href="/">Shop</a></header>'
        '<h1>Results for "kettle"</h1>'
        f'<ul class="results">{"".join(cards)}</ul>{pagination}'
        "</body></html>"
    )


KETTLE = _card("steel-kettle", "Steel Kettle 1.7 l", "€ 39.90")
TOASTER = _card("red-toaster", "Red Toaster 2-slot", "€ 24.50")
NEXT_LINK = '<nav class="pagination"><a rel="next" href="/search?q=kettle&page=2">Next</a></nav>'
PREV_LINK = '<nav class="pagination"><a rel="prev" href="/search?q=kettle&page=1">Previous</a></nav>'


def test_one_hit_search_is_listing() -> None:
    page = parse_page(_search_page(KETTLE), f"{SHOP}/search?q=kettle")
    assert page.kind == "listing"
    assert page.product_links == [f"{SHOP}/p/steel-kettle"]
    assert page.products == []


def test_two_hit_search_is_listing() -> None:
    page = parse_page(_search_page(KETTLE, TOASTER), f"{SHOP}/search?q=kettle")
    assert page.kind == "listing"
    assert page.product_links == [f"{SHOP}/p/steel-kettle", f"{SHOP}/p/red-toaster"]


def test_one_card_with_next_page() -> None:
    page = parse_page(_search_page(KETTLE, pagination=NEXT_LINK), f"{SHOP}/results")
    assert page.kind == "listing"
    assert page.next_page_url == f"{SHOP}/search?q=kettle&page=2"


def test_last_page_with_prev_only() -> None:
    page = parse_page(_search_page(TOASTER, pagination=PREV_LINK), f"{SHOP}/results?page=2")
    assert page.kind == "listing"
    assert page.product_links == [f"{SHOP}/p/red-toaster"]
    assert page.next_page_url is None


def _product_page(heading: str, *, extra: str = "") -> str:
    return (
        "<html><head><title>Steel Kettle | Shop</title></head><body>"
        '<header><a href="/">Shop</a></header>'
        f'<main><div class="buy-box">{heading}<span class="price">€ 39.90</span>'
        '<button class="add-to-cart">Add to cart</button></div>'
        f"{extra}</main></body></html>"
    )


def test_plain_product_page_kept() -> None:
    page = parse_page(_product_page("<h1>Steel Kettle 1.7 l</h1>"), f"{SHOP}/p/steel-kettle")
    assert page.kind == "product"
    assert page.products[0].name == "Steel Kettle 1.7 l"
    assert page.products[0].extracted_by == "heuristic"


def test_product_page_with_one_related_card() -> None:
    related = f'<ul class="more">{TOASTER}</ul>'
    page = parse_page(_product_page("<h1>Steel Kettle 1.7 l</h1>", extra=related), f"{SHOP}/p/steel-kettle")
    assert page.kind == "product"
    assert page.products[0].price is not None
    assert str(page.products[0].price) == "39.90"


HEADINGS_THAT_NAME_NO_PRODUCT = [
    # (case, heading)
    ("logo", '<h1 class="logo"><a href="/"><img src="/logo.png" alt="Shop"></a></h1>'),
    ("hidden", '<h1 style="display: none">Steel Kettle 1.7 l</h1>'),
    ("greeting", "<h1>Welcome to Shop Example</h1>"),
    ("link elsewhere", '<h1><a href="javascript:void(0)">Garden supplies</a></h1>'),
    ("host name", "<h1>All deals at shop.example.com</h1>"),
    ("page number", "<h1>Kettles, page 2 of 4</h1>"),
    ("empty", "<h1>  </h1>"),
]


@pytest.mark.parametrize(
    ("case", "heading"), HEADINGS_THAT_NAME_NO_PRODUCT, ids=[c for c, _ in HEADINGS_THAT_NAME_NO_PRODUCT]
)
def test_site_heading_makes_no_product(case: str, heading: str) -> None:
    document = (
        f'<html><body>{heading}<div class="teaser"><span class="price">29.95 CHF</span></div></body></html>'
    )
    page = parse_page(document, f"{SHOP}/garden")
    assert page.kind == "other", case
    assert page.products == [], case


def test_home_page_teasers_not_listing() -> None:
    cards = "".join(_card(f"item-{index}", f"Garden item {index}", "€ 9.90") for index in range(4))
    document = f'<html><body><h1 class="logo">Shop</h1><ul class="teasers">{cards}</ul></body></html>'
    page = parse_page(document, f"{SHOP}/")
    assert page.kind == "other"
    assert page.product_links == []


def test_price_without_currency_from_pager_ignored() -> None:
    document = (
        "<html><body><h1>Flowering shrubs</h1>"
        '<div class="paginator-pageAmount"><div class="pageAmount">Per page: <b>32</b> '
        '<a href="?pageSize=60">60</a> <a href="?pageSize=96">96</a></div></div>'
        "</body></html>"
    )
    page = parse_page(document, f"{SHOP}/category/shrubs?page=4")
    assert page.products == []


def test_title_names_product_without_h1() -> None:
    related = "".join(_card(f"other-{index}", f"Other dish {index}", "$ 19") for index in range(3))
    document = (
        "<html><head><title>Lamb Casserole - Fresh Shop</title>"
        '<meta property="og:site_name" content="Fresh Shop"></head><body>'
        '<div class="product"><div class="title">Lamb Casserole</div>'
        '<div class="price">$ 29</div><a id="buy_btn" href="javascript:;">Buy</a></div>'
        f'<ul class="side_prd">{related}</ul>'
        "</body></html>"
    )
    page = parse_page(document, f"{SHOP}/cheap_1131.html")
    assert page.kind == "product"
    assert page.products[0].name == "Lamb Casserole"


# --- the sandbox's generated category pages -------------------------------------

BASE_URL = "http://127.0.0.1:1"


def _card_links(document: str) -> list[str]:
    return [
        html.unescape(href) for href in re.findall(r'<h2 class="product-name"><a href="([^"]+)"', document)
    ]


def _rel_next(document: str) -> str | None:
    match = re.search(r'<link rel="next" href="([^"]+)"', document)
    return html.unescape(match.group(1)) if match else None


def _category_pages(corpus_dir: Path, page_size: int) -> list[tuple[str, str, ParsedPage]]:
    """Render and parse every category page of every corpus site with products: (label, HTML, parsed)."""
    found: list[tuple[str, str, ParsedPage]] = []
    for host, site in load_saved_pages(corpus_dir).sites.items():
        if not site.products:
            continue
        for number in range(1, category_page_count(site, page_size) + 1):
            document = render_category_page(site, base_url=BASE_URL, page=number, page_size=page_size)
            assert document is not None
            url = f"{BASE_URL}/{host}/_category" + (f"?page={number}" if number > 1 else "")
            found.append((f"{host} page {number}", document, parse_page(document, url)))
    return found


@pytest.mark.corpus
@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_generated_category_kinds(corpus_dir: Path, page_size: int) -> None:
    pages = _category_pages(corpus_dir, page_size)
    assert pages
    wrong = [label for label, _, parsed in pages if parsed.kind != "listing"]
    assert wrong == []


@pytest.mark.corpus
@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_generated_category_links(corpus_dir: Path, page_size: int) -> None:
    wrong = [
        label
        for label, document, parsed in _category_pages(corpus_dir, page_size)
        if parsed.product_links != _card_links(document)
    ]
    assert wrong == []


@pytest.mark.corpus
@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_generated_category_next_page(corpus_dir: Path, page_size: int) -> None:
    wrong = [
        label
        for label, document, parsed in _category_pages(corpus_dir, page_size)
        if parsed.next_page_url != _rel_next(document)
    ]
    assert wrong == []


@pytest.mark.corpus
@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_generated_category_no_products(corpus_dir: Path, page_size: int) -> None:
    wrong = [label for label, _, parsed in _category_pages(corpus_dir, page_size) if parsed.products]
    assert wrong == []

"""Embedded JSON state (`__NEXT_DATA__`, `window.__INITIAL_STATE__`, Shopify product JSON) to products."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from product_extractor.products import Product, parse_page
from product_extractor.products.embedded import MAX_BLOB_CHARS, embedded_drafts
from tests.peb_scoring import load_index, read_page

URL = "https://shop.example.com/p/desk-lamp"

LAMP = {
    "name": "Desk Lamp",
    "sku": "LAMP-7",
    "price": {"value": 24.5, "currency": "GBP"},
    "availability": "in_stock",
    "images": [{"url": "/img/lamp.jpg"}],
}
RELATED = {"name": "Floor Lamp", "sku": "LAMP-9", "price": 99}


def _page(script: str, heading: str = "Desk Lamp") -> str:
    """Return a client-rendered product page: a heading and a buy button, the rest in `script`."""
    button = '<button class="add-to-cart">Add to cart</button>'
    return f"<html><head>{script}</head><body><h1>{heading}</h1>{button}</body></html>"


def _next_data(product: object) -> str:
    state = {"props": {"pageProps": {"related": [RELATED], "product": product}}}
    return f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(state)}</script>'


def _product(html: str) -> Product:
    page = parse_page(html, URL)
    assert page.products, f"no product parsed; page kind {page.kind}"
    return page.products[0]


def test_next_data_price_and_currency() -> None:
    product = _product(_page(_next_data(LAMP)))
    assert (product.price, product.currency) == (Decimal("24.5"), "GBP")


def test_next_data_sku_and_stock() -> None:
    product = _product(_page(_next_data(LAMP)))
    assert (product.sku, product.availability) == ("LAMP-7", "InStock")


def test_next_data_image_made_absolute() -> None:
    assert _product(_page(_next_data(LAMP))).images[0] == "https://shop.example.com/img/lamp.jpg"


def test_embedded_method_recorded() -> None:
    assert _product(_page(_next_data(LAMP))).extracted_by == "embedded-json"


def test_window_state_assignment() -> None:
    script = f"<script>window.__INITIAL_STATE__ = {json.dumps({'pdp': {'product': LAMP}})};</script>"
    assert _product(_page(script)).sku == "LAMP-7"


def test_json_parse_string_assignment() -> None:
    encoded = json.dumps(json.dumps({"product": LAMP}))
    script = f"<script>window.__PRELOADED_STATE__ = JSON.parse({encoded});</script>"
    assert _product(_page(script)).sku == "LAMP-7"


def test_recommended_product_not_taken() -> None:
    product = _product(_page(_next_data(RELATED), heading="Desk Lamp"))
    assert product.sku is None


def test_structured_data_wins_over_state() -> None:
    jsonld = {
        "@type": "Product",
        "name": "Desk Lamp",
        "sku": "LD-1",
        "offers": {"price": 20, "priceCurrency": "EUR"},
    }
    script = f'<script type="application/ld+json">{json.dumps(jsonld)}</script>' + _next_data(LAMP)
    assert _product(_page(script)).price == Decimal("20")


SHOPIFY = {
    "id": 1,
    "title": "Desk Lamp",
    "handle": "desk-lamp",
    "vendor": "Anglepoise",
    "variants": [{"sku": "AP-1", "price": 2450, "available": False}],
}
SHOPIFY_SCRIPT = f'<script type="application/json" id="ProductJson-main">{json.dumps(SHOPIFY)}</script>'


def test_shopify_product_priced_in_cents() -> None:
    assert _product(_page(SHOPIFY_SCRIPT)).price == Decimal("24.5")


def test_shopify_variants_sold_out() -> None:
    drafts = embedded_drafts(LexborHTMLParser(_page(SHOPIFY_SCRIPT)), base=URL, country="")
    assert drafts[0].availability == "OutOfStock"


def test_javascript_literal_skipped() -> None:
    script = "<script>window.__STATE__ = {product: {name: 'Desk Lamp', price: 3}};</script>"
    tree = LexborHTMLParser(_page(script))
    assert embedded_drafts(tree, base=URL, country="") == []


def test_oversized_blob_skipped() -> None:
    padding = "x" * MAX_BLOB_CHARS
    state = json.dumps({"padding": padding, "product": LAMP})
    tree = LexborHTMLParser(_page(f'<script type="application/json">{state}</script>'))
    assert embedded_drafts(tree, base=URL, country="") == []


def test_deep_nesting_bounded() -> None:
    nested: object = LAMP
    for _ in range(200):
        nested = {"child": nested}
    tree = LexborHTMLParser(_page(f'<script type="application/json">{json.dumps(nested)}</script>'))
    assert embedded_drafts(tree, base=URL, country="") == []


def test_broken_json_skipped() -> None:
    html = _page('<script type="application/json">{"product": {"name": "Desk Lamp", </script>')
    assert parse_page(html, URL).kind in ("product", "other")


# bestbuy.ca writes its product into `window.__INITIAL_STATE__` next to its
# warranty plans, which are product-shaped objects of their own.
BESTBUY_PAGE = "peb-2c42fb6035ff"


@pytest.mark.corpus
def test_corpus_state_blob_product(corpus_dir: Path) -> None:
    row = next(row for row in load_index(corpus_dir) if row["id"] == BESTBUY_PAGE)
    tree = LexborHTMLParser(read_page(corpus_dir, row))
    drafts = embedded_drafts(tree, base=row["url"], country="ca")
    main = next(draft for draft in drafts if draft.sku in row["labels"]["sku"])
    assert main.price == Decimal(row["labels"]["price"][0].strip())

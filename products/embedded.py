"""Products in embedded JSON state: `__NEXT_DATA__`, `window.__INITIAL_STATE__ = {…}`, Shopify product JSON.

Single-page shops render from a state object that the server writes into the
page, and that object usually contains the product the page shows, with its
price, code and stock, next to many other products (recommendations, recently
viewed, the basket). This module finds product-shaped objects in those blobs.
Choosing the page's own product among them is the caller's job, because it
needs the visible heading and the page URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from product_extractor.products.availability import normalize_availability
from product_extractor.products.draft import Draft
from product_extractor.products.model import Availability
from product_extractor.products.prices import currency_to_iso, parse_amount, parse_price
from product_extractor.products.schemaorg import PRODUCT_TYPES, draft_from_item, item_types
from product_extractor.products.text import absolute_url, clean_text, digits_only, is_placeholder_image

__all__ = ["embedded_drafts", "product_objects"]

# Blobs longer than this many characters are skipped unread, because decoding
# 3 MB of JSON takes tens of milliseconds (an estimate), more than a whole page's parse.
MAX_BLOB_CHARS = 3_000_000

# Nesting levels walked below a blob's root. Product objects in real state
# trees sit a few levels down (`props.pageProps.product`); deeper levels hold
# the product's own parts.
MAX_DEPTH = 16

# JSON values visited per page, over all blobs, which bounds the walk's time.
MAX_VISITED = 200_000

# Product objects returned per page, in page order.
MAX_PRODUCTS = 200

# Assignments that write a state object into the page: `window.__INITIAL_STATE__ = {`,
# `var meta = {`, `dataLayer.push({`, or `= JSON.parse("…")`.
#
# Each alternative starts with its keyword and checks the word boundary before
# it with a lookbehind. The matches are those of `\b(?:window|…)`, but a
# pattern whose alternatives all start with a literal lets the regex engine
# skip positions that cannot start a match. On the scripts of the saved corpus
# pages that makes the search about three times faster.
_ASSIGNMENT = re.compile(
    "(?:"
    + "|".join(
        [
            r"window(?<!\wwindow)\.[\w$]+",
            r"self(?<!\wself)\.[\w$]+",
            r"globalThis(?<!\wglobalThis)\.[\w$]+",
            r"var(?<!\wvar)\s+[\w$]+",
            r"let(?<!\wlet)\s+[\w$]+",
            r"const(?<!\wconst)\s+[\w$]+",
            r"__(?<!\w__)[\w$]+__",
            r"dataLayer(?<!\wdataLayer)\.push\(",
        ]
    )
    + r")\s*=?\s*(?:JSON\.parse\(\s*)?(?=[{\[\"])"
)
# JSON decode attempts per script. Minified code has many `= {` object literals
# that are JavaScript, not JSON, and each attempt costs a scan.
_MAX_ASSIGNMENTS_PER_SCRIPT = 20

_DECODER = json.JSONDecoder(strict=False)

_NAME_KEYS = ("name", "productName", "product_name", "displayName", "title", "item_name")
_PRICE_KEYS = (
    "salePrice",
    "currentPrice",
    "finalPrice",
    "sellingPrice",
    "price",
    "priceValue",
    "item_price",
    "prices",
    "priceInfo",
    "pricing",
)
# Other keys naming a price, read when none of `_PRICE_KEYS` is present
# ("priceWithoutEhf"), minus the words of prices other than the one you pay.
_PRICE_KEY = re.compile(r"price", re.IGNORECASE)
_OTHER_PRICE_KEY = re.compile(
    r"regular|was|old|list|orig|compare|sav|strike|before|msrp|rrp|min|max|range|unit|per|tax|ship|format"
    r"|display|text|label|type|hint|show|currency|history",
    re.IGNORECASE,
)
_SKU_KEYS = (
    "sku",
    "skuId",
    "sku_id",
    "productSKU",
    "productCode",
    "product_code",
    "articleNumber",
    "itemNumber",
)
_GTIN_KEYS = ("gtin", "gtin13", "gtin12", "gtin14", "gtin8", "ean", "ean13", "upc", "barcode")
_MPN_KEYS = ("mpn", "manufacturerPartNumber", "modelNumber", "model_number")
_BRAND_KEYS = ("brand", "brandName", "brand_name", "vendor", "manufacturer")
_CURRENCY_KEYS = ("currency", "currencyCode", "priceCurrency", "currency_code", "currencyIso")
_AVAILABILITY_KEYS = (
    "availability",
    "availabilityStatus",
    "stockStatus",
    "stock_status",
    "inStock",
    "isInStock",
    "in_stock",
    "available",
    "isAvailable",
)
_IMAGE_KEYS = ("image", "images", "imageUrl", "image_url", "mainImage", "productImage", "featured_image")
_URL_KEYS = ("url", "productUrl", "product_url", "canonicalUrl")
_AMOUNT_KEYS = ("value", "amount", "current", "sale", "final", "price", "raw", "centAmount")

_TAG = re.compile(r"<[^>]+>")
_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|\]\]>\s*$")


def _script_values(script_text: str, script_type: str) -> Iterator[Any]:
    """Yield the JSON values in a script: its whole text for a JSON type, else its state assignments."""
    if len(script_text) > MAX_BLOB_CHARS:
        return
    if "json" in script_type:
        try:
            value = json.loads(_CDATA.sub("", script_text), strict=False)
        except (ValueError, RecursionError):
            return
        yield value
        return

    for count, match in enumerate(_ASSIGNMENT.finditer(script_text)):
        if count >= _MAX_ASSIGNMENTS_PER_SCRIPT:
            return
        try:
            value, _ = _DECODER.raw_decode(script_text, match.end())
            # `JSON.parse("{\"a\": 1}")`: the decoded string literal is itself the JSON text.
            if isinstance(value, str) and len(value) <= MAX_BLOB_CHARS:
                value = json.loads(value, strict=False)
        except (ValueError, RecursionError):
            continue
        yield value


def _blobs(tree: LexborHTMLParser) -> Iterator[Any]:
    """Yield every decoded JSON blob on the page, in document order, except JSON-LD."""
    for script in tree.css("script"):
        script_type = (script.attributes.get("type") or "").lower()
        if "ld+json" in script_type or (
            script_type and "json" not in script_type and "javascript" not in script_type
        ):
            continue
        text = script.text(deep=True)
        if not text or len(text) < 20:
            continue
        yield from _script_values(text, script_type)


def _is_product_shaped(node: dict[str, Any]) -> bool:
    """Tell whether a JSON object looks like one product: a name plus a price, an offer or a product code."""
    if item_types(node) & PRODUCT_TYPES:
        return True
    name = next((node[key] for key in _NAME_KEYS if isinstance(node.get(key), str)), None)
    if name is None or not 2 <= len(name.strip()) <= 300:
        return False
    return any(key in node for key in (*_PRICE_KEYS, "offers", "variants", *_SKU_KEYS, *_GTIN_KEYS))


def product_objects(values: list[Any]) -> Iterator[dict[str, Any]]:
    """Yield product-shaped objects in decoded JSON, outermost first, walking at most MAX_DEPTH levels.

    A product object's children are walked too, so its variants and the
    products it recommends are yielded after it.
    """
    visited = 0
    stack: list[tuple[Any, int]] = [(value, 0) for value in reversed(values)]
    while stack and visited < MAX_VISITED:
        value, depth = stack.pop()
        visited += 1
        if isinstance(value, dict):
            if _is_product_shaped(value):
                yield value
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth < MAX_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, dict | list))


def _first_text(node: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = node.get(key)
        if isinstance(value, dict):
            value = value.get("name", value.get("title"))
        if isinstance(value, list):
            value = value[0] if value and isinstance(value[0], str | int) else None
        text = clean_text(value) if not isinstance(value, bool) else None
        if text is not None:
            return text
    return None


def _amount(value: object, country: str, depth: int = 0) -> tuple[Decimal | None, str | None]:
    """Read an amount and an ISO currency from a number, a price string, or a price object."""
    if isinstance(value, dict) and depth < 3:
        currency = currency_to_iso(_first_text(value, _CURRENCY_KEYS), country=country)
        for key in _AMOUNT_KEYS:
            if key in value:
                amount, found = _amount(value[key], country, depth + 1)
                if amount is not None:
                    # commercetools and similar APIs give whole cents with their digit count.
                    if key == "centAmount" and isinstance(value.get("fractionDigits", 2), int):
                        amount = amount / (10 ** value.get("fractionDigits", 2))
                    return amount, currency or found
        return None, currency
    if isinstance(value, list) and value and depth < 3:
        return _amount(value[0], country, depth + 1)
    if isinstance(value, str) and not re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", value):
        parsed = parse_price(value, country=country)
        return parsed.amount, parsed.currency
    return parse_amount(value), None


def _price_keys(node: dict[str, Any]) -> Iterator[str]:
    yield from (key for key in _PRICE_KEYS if key in node)
    yield from (key for key in node if _PRICE_KEY.search(key) and not _OTHER_PRICE_KEY.search(key))


def _availability(node: dict[str, Any]) -> Availability | None:
    for key in _AVAILABILITY_KEYS:
        value = node.get(key)
        if isinstance(value, dict):
            value = next((entry for entry in value.values() if normalize_availability(entry)), None)
        found = normalize_availability(value)
        if found is not None:
            return found
    return None


def _images(node: dict[str, Any], base: str) -> list[str]:
    found: list[str] = []
    for key in _IMAGE_KEYS:
        value = node.get(key)
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, dict):
                entry = entry.get("url", entry.get("src", entry.get("href")))
            url = absolute_url(entry, base) if isinstance(entry, str) else None
            if url is not None and url not in found and not is_placeholder_image(url):
                found.append(url)
    return found


def _is_shopify_product(node: dict[str, Any]) -> bool:
    """Tell Shopify's product JSON (`ProductJson-…` scripts, `var meta = {product: …}`), priced in cents."""
    return "handle" in node and "vendor" in node and isinstance(node.get("variants"), list)


def _draft_from_object(node: dict[str, Any], *, base: str, country: str) -> Draft:
    """Map one product-shaped object's usual key names onto a draft."""
    if item_types(node) & PRODUCT_TYPES:
        return draft_from_item(node, base=base, country=country, method="embedded-json")

    draft = Draft(method="embedded-json")
    draft.name = _first_text(node, _NAME_KEYS)
    draft.brand = _first_text(node, _BRAND_KEYS)
    draft.sku = _first_text(node, _SKU_KEYS)
    draft.mpn = _first_text(node, _MPN_KEYS)
    gtin = digits_only(_first_text(node, _GTIN_KEYS))
    draft.gtin = gtin if gtin is not None and len(gtin) in (8, 12, 13, 14) else None
    description = _first_text(node, ("description", "shortDescription"))
    draft.description = clean_text(_TAG.sub(" ", description)) if description else None
    draft.url = absolute_url(_first_text(node, _URL_KEYS), base)
    draft.images = _images(node, base)
    draft.availability = _availability(node)
    draft.currency = currency_to_iso(_first_text(node, _CURRENCY_KEYS), country=country)

    shopify = _is_shopify_product(node)
    variants = node.get("variants") if shopify else None
    price_sources: list[tuple[dict[str, Any], str]] = [(node, key) for key in _price_keys(node)]
    if not price_sources and isinstance(variants, list) and variants and isinstance(variants[0], dict):
        price_sources = [(variants[0], key) for key in _price_keys(variants[0])]
    for source, key in price_sources:
        amount, currency = _amount(source[key], country)
        if amount is None or amount <= 0:
            continue
        if shopify and isinstance(source[key], int):
            amount = Decimal(source[key]) / 100
        draft.price = amount
        draft.currency = draft.currency or currency
        break
    if shopify and draft.availability is None and isinstance(variants, list):
        stock = [variant.get("available") for variant in variants if isinstance(variant, dict)]
        if any(isinstance(value, bool) for value in stock):
            draft.availability = "InStock" if any(value is True for value in stock) else "OutOfStock"
    return draft


def embedded_drafts(tree: LexborHTMLParser, *, base: str, country: str) -> list[Draft]:
    """Return drafts for the product-shaped objects in the page's embedded JSON state, in page order.

    Reads `<script type="application/json">` blocks (`__NEXT_DATA__`, Shopify's
    `ProductJson-…`) and `window.X = {…}`, `var meta = {…}`, `__NUXT__ = {…}`
    and `dataLayer.push({…})` assignments that are valid JSON. JavaScript
    object literals (unquoted keys, single quotes) and state built by a
    function, as in `__NUXT__ = (function(a, b) {…})(…)`, are skipped.
    """
    blobs = list(_blobs(tree))
    drafts: list[Draft] = []
    for node in product_objects(blobs):
        try:
            draft = _draft_from_object(node, base=base, country=country)
        except RecursionError:
            # JSON nested close to the decoder's limit of about 1,000 levels can take the
            # recursive offer reader past the interpreter's limit. Only that object is lost.
            continue
        if draft.name is not None:
            drafts.append(draft)
        if len(drafts) >= MAX_PRODUCTS:
            break
    return drafts

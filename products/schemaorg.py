"""schema.org Product items (from JSON-LD or microdata, as plain dicts) to drafts.

Both structured-data formats reach this module in one shape: a dict of
schema.org property names to values, where a nested item is a dict with an
`@type`, and a repeated property is a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from product_extractor.products.availability import normalize_availability
from product_extractor.products.draft import Draft
from product_extractor.products.model import ExtractionMethod, Variant
from product_extractor.products.prices import currency_to_iso, parse_amount, parse_price
from product_extractor.products.text import (
    absolute_url,
    clean_text,
    digits_only,
    is_placeholder_image,
    plain_text,
)

__all__ = ["PRODUCT_TYPES", "draft_from_item", "item_types", "product_items"]

# schema.org types that describe a sellable thing. Product subtypes
# (IndividualProduct, ProductModel, Vehicle, Car) and ProductGroup share its
# properties, and Book appears on shop pages with an offer.
PRODUCT_TYPES = frozenset(
    {"product", "productgroup", "individualproduct", "productmodel", "vehicle", "car", "book"}
)

_OFFER_TYPES = frozenset({"offer", "aggregateoffer"})

# Properties whose nested items are other products, not parts of this one.
_UNRELATED_PROPERTIES = frozenset(
    {"isrelatedto", "issimilarto", "isaccessoryorsparepartfor", "isconsumablefor"}
)


def item_types(item: dict[str, Any]) -> set[str]:
    """Return an item's `@type` names, lower-cased and without a schema.org prefix."""
    raw = item.get("@type", item.get("type"))
    values = raw if isinstance(raw, list) else [raw]
    return {str(value).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for value in values if value}


def product_items(node: object) -> Iterator[dict[str, Any]]:
    """Yield every product item in a parsed JSON-LD or microdata tree, outermost first.

    Walks `@graph`, lists and nested items (a WebPage's `mainEntity`, an
    ItemList's elements). A product's own variants and related products are
    not yielded separately: `draft_from_item` reads the variants itself.
    """
    if isinstance(node, list):
        for child in node:
            yield from product_items(child)
        return
    if not isinstance(node, dict):
        return

    if item_types(node) & PRODUCT_TYPES:
        yield node
        return

    # An Offer at the top with an `itemOffered` product is a product page too.
    offered = node.get("itemOffered")
    if item_types(node) & _OFFER_TYPES and isinstance(offered, dict):
        merged = dict(offered)
        merged.setdefault("offers", {key: value for key, value in node.items() if key != "itemOffered"})
        merged.setdefault("@type", "Product")
        yield merged
        return

    for key, value in node.items():
        if key.lower() in _UNRELATED_PROPERTIES:
            continue
        if isinstance(value, dict | list):
            yield from product_items(value)


def _first(value: object) -> object:
    """Return the first element of a list, or the value itself."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _text(value: object) -> str | None:
    """Return a text property, taking a nested item's `name` and a list's first entry."""
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name", value.get("@value", value.get("value")))
        value = _first(value)
    return clean_text(value)


def _description(value: object) -> str | None:
    return plain_text(_text(value))


def _images(value: object, base: str) -> list[str]:
    """Collect image URLs from a string, an ImageObject, or a list of either."""
    found: list[str] = []
    values = value if isinstance(value, list) else [value]
    for entry in values:
        if isinstance(entry, dict):
            entry = entry.get("url", entry.get("contentUrl", entry.get("contentURL")))
            entry = _first(entry)
        url = absolute_url(entry, base)
        if url is not None and url not in found and not is_placeholder_image(url):
            found.append(url)
    return found


def _number(value: object) -> float | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("@value", value.get("value"))
    amount = parse_amount(value)
    return float(amount) if amount is not None else None


def _count(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _gtin(item: dict[str, Any]) -> str | None:
    for key in ("gtin", "gtin13", "gtin12", "gtin14", "gtin8", "isbn"):
        digits = digits_only(_first(item.get(key)))
        if digits is not None and len(digits) in (8, 10, 12, 13, 14):
            return digits
    return None


def _offers(value: object) -> list[dict[str, Any]]:
    """Flatten `offers` (an Offer, an AggregateOffer with nested offers, or a list) to offer dicts."""
    found: list[dict[str, Any]] = []
    values = value if isinstance(value, list) else [value]
    for entry in values:
        if not isinstance(entry, dict):
            continue
        found.append(entry)
        nested = entry.get("offers")
        if nested is not None and "aggregateoffer" in item_types(entry):
            found.extend(_offers(nested))
    return found


def _offer_price(offer: dict[str, Any], country: str) -> tuple[Decimal | None, str | None]:
    """Read an offer's amount and ISO currency from price, lowPrice or priceSpecification."""
    currency_text = _text(offer.get("priceCurrency")) or _text(offer.get("currency"))
    raw_price = _first(offer.get("price"))
    if raw_price is None:
        raw_price = _first(offer.get("lowPrice"))

    if raw_price is None:
        specs = offer.get("priceSpecification")
        for spec in specs if isinstance(specs, list) else [specs]:
            if isinstance(spec, dict) and spec.get("price") is not None:
                raw_price = _first(spec.get("price"))
                currency_text = currency_text or _text(spec.get("priceCurrency"))
                break

    if isinstance(raw_price, dict):
        raw_price = raw_price.get("@value", raw_price.get("value"))
    amount = parse_amount(raw_price)
    currency = currency_to_iso(currency_text, country=country)
    if currency is None and isinstance(raw_price, str):
        currency = parse_price(raw_price, country=country).currency
    return amount, currency


def _apply_offers(draft: Draft, offers: list[dict[str, Any]], base: str, country: str) -> None:
    """Take price, currency and availability from the first offer that has a price."""
    for offer in offers:
        amount, currency = _offer_price(offer, country)
        if amount is None or amount <= 0:
            continue
        draft.price = amount
        draft.currency = currency
        break

    # With one offer per size or colour, the product is in stock when any of them is.
    stock = [normalize_availability(_first(offer.get("availability"))) for offer in offers]
    known = [value for value in stock if value is not None]
    if known:
        draft.availability = "InStock" if "InStock" in known else known[0]

    for offer in offers:
        if draft.currency is None:
            draft.currency = currency_to_iso(_text(offer.get("priceCurrency")), country=country)
        if draft.sku is None:
            draft.sku = _text(offer.get("sku"))
        if draft.gtin is None:
            draft.gtin = _gtin(offer)
        if draft.url is None:
            draft.url = absolute_url(_first(offer.get("url")), base)


def _variant(item: dict[str, Any], base: str, country: str) -> Variant:
    offers = _offers(item.get("offers"))
    price: Decimal | None = None
    currency: str | None = None
    availability = None
    for offer in offers:
        price, currency = _offer_price(offer, country)
        availability = normalize_availability(_first(offer.get("availability")))
        if price is not None and price > 0:
            break
    images = _images(item.get("image"), base)
    return Variant(
        name=_text(item.get("name")),
        sku=_text(item.get("sku")),
        gtin=_gtin(item),
        mpn=_text(item.get("mpn")),
        price=price,
        currency=currency,
        availability=availability,
        url=absolute_url(_first(item.get("url")), base),
        image=images[0] if images else None,
        color=_text(item.get("color")),
        size=_text(item.get("size")),
    )


def draft_from_item(item: dict[str, Any], *, base: str, country: str, method: ExtractionMethod) -> Draft:
    """Build a draft from one schema.org Product or ProductGroup item.

    `base` resolves relative URLs, and `country` settles shared currency symbols.
    """
    draft = Draft(method=method)
    draft.name = _text(item.get("name"))
    draft.brand = _text(item.get("brand")) or _text(item.get("manufacturer"))
    draft.sku = _text(item.get("sku")) or _text(item.get("productID"))
    if draft.sku is None and "productgroup" in item_types(item):
        # A ProductGroup's own code is its productGroupID; sku names one variant.
        draft.sku = _text(item.get("productGroupID"))
    draft.mpn = _text(item.get("mpn"))
    draft.gtin = _gtin(item)
    draft.description = _description(item.get("description"))
    draft.url = absolute_url(_first(item.get("url")), base)
    draft.images = _images(item.get("image"), base)

    rating = item.get("aggregateRating")
    rating = _first(rating)
    if isinstance(rating, dict):
        draft.rating = _number(rating.get("ratingValue"))
        draft.best_rating = _number(rating.get("bestRating"))
        draft.review_count = _count(rating.get("reviewCount")) or _count(rating.get("ratingCount"))

    _apply_offers(draft, _offers(item.get("offers")), base, country)

    variants = item.get("hasVariant")
    for entry in variants if isinstance(variants, list) else [variants]:
        if isinstance(entry, dict):
            draft.variants.append(_variant(entry, base, country))

    # A ProductGroup often prices only its variants: the first priced variant
    # stands for the group, as the page shows its default selection.
    if draft.price is None:
        for variant in draft.variants:
            if variant.price is not None:
                draft.price, draft.currency = variant.price, variant.currency
                draft.availability = draft.availability or variant.availability
                break
    if not draft.images:
        draft.images = [variant.image for variant in draft.variants if variant.image][:1]
    return draft

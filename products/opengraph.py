"""OpenGraph and product meta tags (`og:*`, `product:*`) to a draft."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from product_extractor.products.availability import normalize_availability
from product_extractor.products.draft import Draft
from product_extractor.products.prices import currency_to_iso, parse_amount
from product_extractor.products.text import absolute_url, clean_text, is_placeholder_image

__all__ = ["meta_properties", "opengraph_draft"]


def meta_properties(tree: LexborHTMLParser) -> dict[str, list[str]]:
    """Return every `<meta property|name=… content=…>` value by lower-cased key, in document order."""
    found: dict[str, list[str]] = {}
    for node in tree.css("meta[content]"):
        key = (
            node.attributes.get("property") or node.attributes.get("name") or node.attributes.get("itemprop")
        )
        content = node.attributes.get("content")
        if not key or content is None:
            continue
        found.setdefault(key.strip().lower(), []).append(content)
    return found


def _first(meta: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        for value in meta.get(key, []):
            text = clean_text(value)
            if text is not None:
                return text
    return None


def opengraph_draft(meta: dict[str, list[str]], *, base: str, country: str) -> Draft | None:
    """Build a draft from OpenGraph product tags, or None when the page does not declare a product.

    A page declares one with `og:type` "product" (or "og:product") or with a
    price tag (`product:price:amount`, `og:price:amount`).
    """
    og_type = (_first(meta, "og:type") or "").lower()
    amount_text = _first(meta, "product:price:amount", "og:price:amount", "product:sale_price:amount")
    if "product" not in og_type and amount_text is None:
        return None

    draft = Draft(method="opengraph")
    draft.name = _first(meta, "og:title", "twitter:title")
    draft.description = _first(meta, "og:description", "twitter:description")
    draft.url = absolute_url(_first(meta, "og:url"), base)
    draft.brand = _first(meta, "product:brand", "og:brand")
    draft.sku = _first(meta, "product:retailer_item_id", "product:sku")
    draft.mpn = _first(meta, "product:mfr_part_no")
    draft.availability = normalize_availability(_first(meta, "product:availability", "og:availability"))

    draft.price = parse_amount(amount_text)
    currency_text = _first(meta, "product:price:currency", "og:price:currency", "product:sale_price:currency")
    draft.currency = currency_to_iso(currency_text, country=country)

    for key in ("og:image:secure_url", "og:image", "og:image:url", "twitter:image"):
        for value in meta.get(key, []):
            url = absolute_url(value, base)
            if url is not None and url not in draft.images and not is_placeholder_image(url):
                draft.images.append(url)
    return draft

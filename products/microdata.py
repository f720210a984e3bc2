"""HTML microdata (`itemscope` / `itemprop`) to schema.org-shaped dicts, read with selectolax."""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from product_extractor.products.text import is_placeholder_image

__all__ = ["microdata_items"]

# The attribute containing an element's property value, per the HTML
# microdata specification. Other elements use their text.
_URL_ATTRIBUTES = {
    "a": "href",
    "area": "href",
    "link": "href",
    "img": "src",
    "audio": "src",
    "embed": "src",
    "iframe": "src",
    "source": "src",
    "track": "src",
    "video": "src",
    "object": "data",
}


def _item_type(node: LexborNode) -> str | None:
    itemtype = (node.attributes.get("itemtype") or "").strip()
    if not itemtype:
        return None
    # "http://schema.org/Product" → "Product"; the first type when several are listed.
    return itemtype.split()[0].rstrip("/").rsplit("/", 1)[-1]


def _owner(node: LexborNode) -> LexborNode | None:
    """Return the nearest ancestor with `itemscope`: the item this property belongs to."""
    parent = node.parent
    while parent is not None:
        if parent.tag is not None and "itemscope" in parent.attributes:
            return parent
        parent = parent.parent
    return None


def _value(node: LexborNode) -> str | None:
    tag = node.tag or ""
    attributes = node.attributes
    if tag == "meta":
        return attributes.get("content")
    if tag in _URL_ATTRIBUTES:
        # Lazy-loading images keep the real address in data-src, with a spinner or a pixel in src.
        value = attributes.get(_URL_ATTRIBUTES[tag])
        if not value or is_placeholder_image(value):
            value = attributes.get("data-src") or value
        if value:
            return value
    if tag in ("data", "meter") and attributes.get("value"):
        return attributes.get("value")
    if tag == "time" and attributes.get("datetime"):
        return attributes.get("datetime")
    # Widely used outside the specification: <span itemprop="price" content="12.99">.
    if attributes.get("content"):
        return attributes.get("content")
    return node.text(deep=True, separator=" ")


def microdata_items(tree: LexborHTMLParser) -> list[dict[str, Any]]:
    """Return the page's top-level microdata items, nested items inlined as dicts with an `@type`.

    A property that repeats becomes a list, in document order.
    """
    items: dict[int, dict[str, Any]] = {}
    top_level: list[dict[str, Any]] = []
    for node in tree.css("[itemscope]"):
        item: dict[str, Any] = {}
        item_type = _item_type(node)
        if item_type:
            item["@type"] = item_type
        # <meta itemscope itemprop="brand" content="Acme">: an item with no
        # properties of its own whose content is its name.
        content = node.attributes.get("content")
        if content:
            item["name"] = content
        items[node.mem_id] = item
        # An item that is a property of nothing is top-level, even with an
        # itemprop such as "mainEntityOfPage" that names no enclosing item.
        if "itemprop" not in node.attributes or _owner(node) is None:
            top_level.append(item)

    for node in tree.css("[itemprop]"):
        owner = _owner(node)
        if owner is None:
            continue
        owner_item = items.get(owner.mem_id)
        if owner_item is None:
            continue

        value: Any = items.get(node.mem_id) if "itemscope" in node.attributes else _value(node)
        if value is None:
            continue
        for name in (node.attributes.get("itemprop") or "").split():
            existing = owner_item.get(name)
            if existing is None:
                owner_item[name] = value
            elif isinstance(existing, list):
                existing.append(value)
            else:
                owner_item[name] = [existing, value]
    return top_level

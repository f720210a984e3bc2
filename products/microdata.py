"""HTML microdata (`itemscope` / `itemprop`) to schema.org-shaped dicts, read with selectolax."""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from product_extractor.products.nesting import MAX_JSON_DEPTH
from product_extractor.products.text import is_placeholder_image

__all__ = ["MAX_TEXT_CHARS", "microdata_items"]

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


_UNKNOWN = object()  # `_owner`'s cache has no entry for a node

# Characters of element text read as property values per page. A text value is all the
# text below its element, so n nested properties copy the innermost text n times: 4,000
# of them around 1 MB of text would take 4 GB. Past the budget, text values are left out.
MAX_TEXT_CHARS = 2_000_000


def _item_type(node: LexborNode) -> str | None:
    itemtype = (node.attributes.get("itemtype") or "").strip()
    if not itemtype:
        return None
    # "http://schema.org/Product" → "Product"; the first type when several are listed.
    return itemtype.split()[0].rstrip("/").rsplit("/", 1)[-1]


def _owner(node: LexborNode, owners: dict[int, LexborNode | None]) -> LexborNode | None:
    """Return the nearest ancestor with `itemscope`: the item this property belongs to.

    `owners` caches the owner of every node passed on the way up, so that
    looking up each property of a page walks each element once. Without it,
    n nested properties would cost n² steps.
    """
    passed: list[int] = []
    found: LexborNode | None = None
    current = node
    while True:
        cached = owners.get(current.mem_id, _UNKNOWN)
        if cached is not _UNKNOWN:
            found = cached if isinstance(cached, LexborNode) else None
            break
        passed.append(current.mem_id)
        parent = current.parent
        if parent is None:
            break
        if parent.tag is not None and "itemscope" in parent.attributes:
            found = parent
            break
        current = parent

    for mem_id in passed:
        owners[mem_id] = found
    return found


class _TextBudget:
    """Characters of element text a page's property values may still take."""

    def __init__(self, characters: int) -> None:
        self.remaining = characters


def _value(node: LexborNode, budget: _TextBudget) -> str | None:
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
    if budget.remaining <= 0:
        return None
    text = node.text(deep=True, separator=" ")
    budget.remaining -= len(text)
    return text


def microdata_items(tree: LexborHTMLParser) -> list[dict[str, Any]]:
    """Return the page's top-level microdata items, nested items inlined as dicts with an `@type`.

    A property that repeats becomes a list, in document order.
    """
    items: dict[int, dict[str, Any]] = {}
    depths: dict[int, int] = {}  # levels of items from the top-level item down, by mem_id
    owners: dict[int, LexborNode | None] = {}
    budget = _TextBudget(MAX_TEXT_CHARS)
    top_level: list[dict[str, Any]] = []
    for node in tree.css("[itemscope]"):
        # Ancestors come first in document order, so an owner's depth is known. Items nested
        # deeper than MAX_JSON_DEPTH are left out, with their properties.
        owner = _owner(node, owners)
        depth = depths.get(owner.mem_id, MAX_JSON_DEPTH) + 1 if owner is not None else 1
        if depth > MAX_JSON_DEPTH:
            continue
        depths[node.mem_id] = depth

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
        if "itemprop" not in node.attributes or owner is None:
            top_level.append(item)

    for node in tree.css("[itemprop]"):
        owner = _owner(node, owners)
        if owner is None:
            continue
        owner_item = items.get(owner.mem_id)
        if owner_item is None:
            continue

        value: Any = items.get(node.mem_id) if "itemscope" in node.attributes else _value(node, budget)
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

"""One parsed HTML page with the lookups the heuristics share: document order and page-chrome checks."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from itertools import repeat

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["Page", "SelectorList", "attribute_words", "join_attribute_words"]

# Elements that never hold the main product's fields: navigation, footers,
# struck-out prices, and strips of other products.
_CHROME_TAGS = ("footer", "nav", "aside", "del", "s", "strike", "noscript", "template")
_CHROME_WORDS = (
    "related",
    "recommend",
    "similar",
    "carousel",
    "upsell",
    "up-sell",
    "crosssell",
    "cross-sell",
    "also-bought",
    "also-viewed",
    "alsobought",
    "recently",
    "suggest",
    "sponsor",
    "mfe-",
    "footer",
    "site-header",
    "siteheader",
    "page-header",
    "global-header",
    "navigation",
    "megamenu",
    "mega-menu",
    "breadcrumb",
    "cookie",
    "newsletter",
    "minicart",
    "mini-cart",
    "sims-",
    "p13n",
    "nosto",
    "you-may",
    "bought-together",
    "complete-the-look",
)


def _prefix_tree_pattern(words: list[str]) -> str:
    """Return a regular expression whose `search` finds any of `words`, factored by common prefixes.

    Python's `re` tries the branches of an alternation one after another at
    each position, so "cookie|carousel|…" costs up to a step per word at each character.
    Factored as "c(?:arousel|ookie)|…", a position whose next character starts
    no word fails after one step. A word that another word starts with
    ("ab" and "abc") makes the longer one redundant for `search`, so only the
    shorter is kept. `words` must not be empty.
    """
    if "" in words:
        return ""
    branches: dict[str, list[str]] = {}
    for word in words:
        branches.setdefault(word[0], []).append(word[1:])
    alternatives = [
        re.escape(first) + _prefix_tree_pattern(rests) for first, rests in sorted(branches.items())
    ]
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


# The chrome check runs in Python, on the elements a rule checks and their
# ancestors, rather than as a CSS selector list over the whole document, because
# Lexbor walks the whole tree once per selector in a list. It matches as
# `[class*=word i]` and `[id*=word i]` would, folding ASCII letters only.
# Only `search` may be called on it: it finds whether a word occurs, not which.
_CHROME_PATTERN = re.compile(_prefix_tree_pattern(list(_CHROME_WORDS)))
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _is_chrome_root(tag: str | None, attributes: dict[str, str | None], words: dict[str, bool]) -> bool:
    """Tell whether an element is page chrome by its own tag, class or id, whatever its ancestors are.

    `words` caches, per class or id value, whether it contains a chrome word,
    because a page repeats the same few values on many elements.
    """
    if tag in _CHROME_TAGS:
        return True
    for key in ("class", "id"):
        value = attributes.get(key)
        if not value:
            continue
        found = words.get(value)
        if found is None:
            found = words[value] = _CHROME_PATTERN.search(_ascii_lower(value)) is not None
        if found:
            return True
    return False


_ATTRIBUTE_KEYS = ("id", "class", "itemprop", "data-qa", "data-qa-qualifier", "data-test", "data-testid")


def attribute_words(node: LexborNode) -> str:
    """Return an element's id, class, itemprop and test-id values joined by spaces, for rules to match on."""
    return join_attribute_words(node.attributes)


def join_attribute_words(attributes: dict[str, str | None]) -> str:
    """Return `attribute_words` from an element's attributes dictionary."""
    return " ".join(value for key in _ATTRIBUTE_KEYS if (value := attributes.get(key)))


# An attribute condition in a selector: `[class*=price i]`, `[itemprop=sku]`, `[rel~=next i]`.
_ATTRIBUTE_CONDITION = re.compile(r"\[([\w-]+)\s*[*~^$|]?=\s*([^\]\s]+)")
_ID_CONDITION = re.compile(r"#([\w-]+)")


@dataclass(frozen=True, slots=True)
class SelectorList:
    """A CSS selector list split into its selectors, each with an attribute value it needs to match.

    `needs` holds, per selector, an attribute name and a lower-case substring
    that some element's value of that attribute contains wherever the
    selector matches, or None when the selector has no such condition.
    """

    selectors: tuple[str, ...]
    needs: tuple[tuple[str, str] | None, ...]

    @classmethod
    def parse(cls, text: str) -> SelectorList:
        """Split a comma-separated selector list. Commas inside brackets or parentheses are not supported."""
        selectors = tuple(part.strip() for part in text.split(",") if part.strip())
        return cls(selectors, tuple(_needed_value(selector) for selector in selectors))


def _needed_value(selector: str) -> tuple[str, str] | None:
    if ":not(" in selector:
        # A negated condition needs nothing to be present.
        return None
    match = _ATTRIBUTE_CONDITION.search(selector)
    if match is not None:
        return match.group(1).lower(), match.group(2).lower()
    match = _ID_CONDITION.search(selector)
    if match is not None:
        return "id", match.group(1).lower()
    return None


@dataclass(slots=True)
class Page:
    """A parsed page plus what its rules share: document order, attributed elements and the chrome check.

    `order` maps an element's `mem_id` to its index in document order within
    the body, `<body>` itself being 0. `attributed` lists the body's
    descendants that have a class, id or itemprop attribute, each with its
    attributes, in document order.
    """

    tree: LexborHTMLParser
    order: dict[int, int] = field(default_factory=dict)
    attributed: list[tuple[LexborNode, dict[str, str | None]]] = field(default_factory=list)
    _chrome_cache: dict[int, bool] = field(default_factory=dict)
    _chrome_words: dict[str, bool] = field(default_factory=dict)
    # The attributes of every element with any, for `select`: None on a page without a body.
    _all_attributes: list[dict[str, str | None]] | None = None
    _columns: dict[str, str] = field(default_factory=dict)
    # The attributes of each element in the body, by its index in `order`.
    _body_attributes: list[dict[str, str | None]] = field(default_factory=list)

    @classmethod
    def build(cls, tree: LexborHTMLParser) -> Page:
        """Index a parsed page in one pass over its body."""
        page = cls(tree)
        body = tree.body
        if body is None:
            return page

        order = page.order
        attributed = page.attributed
        body_attributes = page._body_attributes
        # <html> and <head> first, because `select` looks at the whole document.
        all_attributes = [tree.root.attributes] if tree.root is not None else []
        if tree.head is not None:
            all_attributes.extend(node.attributes for node in tree.head.traverse(include_text=False))
        for index, node in enumerate(body.traverse(include_text=False)):
            order[node.mem_id] = index
            attributes = node.attributes
            body_attributes.append(attributes)
            if not attributes:
                continue
            all_attributes.append(attributes)
            # Index 0 is <body> itself, which the rules treat as the page, not as one of its elements.
            if index and ("class" in attributes or "id" in attributes or "itemprop" in attributes):
                attributed.append((node, attributes))
        page._all_attributes = all_attributes
        return page

    def attributes_of(self, node: LexborNode) -> dict[str, str | None]:
        """Return `node.attributes`, read once per page for elements in the body. Do not change the result."""
        index = self.order.get(node.mem_id)
        if index is None:
            return node.attributes
        return self._body_attributes[index]

    def select(self, selectors: SelectorList) -> list[LexborNode]:
        """Return `tree.css` of a selector list, without running the selectors that cannot match on this page.

        Lexbor walks the whole document once per selector in a list, so this
        leaves out each selector whose needed attribute value occurs on no
        element. The result is the same: every element in document order, once
        per selector it matches.
        """
        if self._all_attributes is None:
            return self.tree.css(", ".join(selectors.selectors))
        kept = [
            selector
            for selector, needed in zip(selectors.selectors, selectors.needs, strict=True)
            if needed is None or needed[1] in self._column(needed[0])
        ]
        return self.tree.css(", ".join(kept)) if kept else []

    def _column(self, name: str) -> str:
        """Return the distinct values of one attribute on all elements, lower-cased, NUL-separated (cached).

        Only substring tests may use it, because the values come in no
        particular order. Pages repeat class values on many elements, so the
        distinct ones make a shorter string to search: on the corpus's product
        pages, 11,000 characters of class values on average instead of 51,000.
        """
        column = self._columns.get(name)
        if column is None:
            values = map(dict.get, self._all_attributes or [], repeat(name))
            column = self._columns[name] = "\0".join({value for value in values if value}).lower()
        return column

    def in_chrome(self, node: LexborNode) -> bool:
        """Return whether an element is, or sits inside, page chrome or a strip of other products.

        Always False on a page without a body (a frameset).
        """
        if not self.order:
            return False
        seen: list[int] = []
        current: LexborNode | None = node
        result = False
        while current is not None:
            key = current.mem_id
            cached = self._chrome_cache.get(key)
            if cached is not None:
                result = cached
                break
            tag = current.tag
            if tag in ("html", "-undef", None):
                break
            seen.append(key)
            if _is_chrome_root(tag, self.attributes_of(current), self._chrome_words):
                result = True
                break
            current = current.parent
        for key in seen:
            self._chrome_cache[key] = result
        return result

    def position(self, node: LexborNode) -> int:
        """Return an element's index in document order, or 0 for elements outside the body."""
        return self.order.get(node.mem_id, 0)

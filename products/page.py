"""One parsed HTML page with the lookups the heuristics share: document order and page-chrome checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["Page", "attribute_words"]

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
_CHROME_SELECTOR = ", ".join(
    [
        *_CHROME_TAGS,
        *(f"[class*={word} i]" for word in _CHROME_WORDS),
        *(f"[id*={word} i]" for word in _CHROME_WORDS),
    ]
)

_ATTRIBUTE_KEYS = ("id", "class", "itemprop", "data-qa", "data-qa-qualifier", "data-test", "data-testid")


def attribute_words(node: LexborNode) -> str:
    """Return an element's id, class, itemprop and test-id values joined by spaces, for rules to match on."""
    attributes = node.attributes
    return " ".join(value for key in _ATTRIBUTE_KEYS if (value := attributes.get(key)))


@dataclass(slots=True)
class Page:
    """A parsed page plus document order and the roots of page chrome, computed once."""

    tree: LexborHTMLParser
    order: dict[int, int] = field(default_factory=dict)
    chrome_roots: set[int] = field(default_factory=set)
    _chrome_cache: dict[int, bool] = field(default_factory=dict)

    @classmethod
    def build(cls, tree: LexborHTMLParser) -> Page:
        page = cls(tree)
        body = tree.body
        if body is None:
            return page
        page.order = {node.mem_id: index for index, node in enumerate(body.traverse(include_text=False))}
        page.chrome_roots = {node.mem_id for node in tree.css(_CHROME_SELECTOR)}
        return page

    def in_chrome(self, node: LexborNode) -> bool:
        """Return whether an element is, or sits inside, page chrome or a strip of other products."""
        seen: list[int] = []
        current: LexborNode | None = node
        result = False
        while current is not None and current.tag not in ("html", "-undef", None):
            key = current.mem_id
            cached = self._chrome_cache.get(key)
            if cached is not None:
                result = cached
                break
            seen.append(key)
            if key in self.chrome_roots:
                result = True
                break
            current = current.parent
        for key in seen:
            self._chrome_cache[key] = result
        return result

    def position(self, node: LexborNode) -> int:
        """Return an element's index in document order, or 0 for elements outside the body."""
        return self.order.get(node.mem_id, 0)

"""Bounds on nesting: how deep a page's elements go before parsing, and how deep its structured data goes.

Lexbor follows the HTML standard's tree builder, which walks the stack of
open elements for many tags (a `<div>` start tag first looks for an open
`<p>`). So a page of n nested elements costs about n² steps: `parse_page`
took 29 s on 100,000 nested `<div>`s and 0.06 s on 10,000 (selectolax 1.0.2,
measured on a 2-core development machine). The deepest page of the saved
corpus nests 37 levels.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_ELEMENT_DEPTH", "MAX_JSON_DEPTH", "PageTooComplex", "check_element_depth", "prune_json"]

# Elements nested in a page before it is rejected unparsed: over 100 times the deepest page
# of the corpus, and still cheap (parse_page took 0.02 s on 4,096 nested `<div>`s).
MAX_ELEMENT_DEPTH = 4096

# Levels of JSON-LD and microdata kept below a block's root. The saved corpus nests 5 levels
# at most; the extractors walk these trees recursively.
MAX_JSON_DEPTH = 32

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")

# Elements that never stay open around others: void elements, and those whose end tag
# the parser implies when a sibling starts (`<p>`, `<li>`, table parts).
# fmt: off
_NOT_NESTING = frozenset({
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
    "p", "li", "dd", "dt", "option", "optgroup", "rb", "rp", "rt", "rtc",
    "tr", "td", "th", "tbody", "thead", "tfoot", "caption", "colgroup", "html", "head", "body",
})
# A start tag of one of these closes an open element of the same name first.
_CLOSE_SAME = frozenset({"a", "button", "form", "nobr", "select"})
# Elements whose content is text or foreign markup, skipped to their end tag.
_SKIPPED_CONTENT = frozenset({
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext",
    "template", "svg", "math",
})
# fmt: on


class PageTooComplex(ValueError):
    """A page nested too deeply to parse in bounded time; `str()` names the depth limit."""


def check_element_depth(html: str, limit: int = MAX_ELEMENT_DEPTH) -> None:
    """Raise PageTooComplex when the elements of `html` nest deeper than `limit`.

    The depth is estimated from the tags alone, without building a tree: end
    tags close what they name, the elements in _NOT_NESTING never count, and
    the content of scripts, styles and inline SVG is skipped. Comments are read
    as markup, so unbalanced tags commented out may raise the estimate.
    """
    # Each level needs a start tag, so a page with few start tags cannot be too deep.
    if html.count("<") - html.count("</") <= limit:
        return

    depth = _estimated_depth(html, limit)
    if depth > limit:
        raise PageTooComplex(
            f"the page nests its elements more than {limit} levels deep, too deep to parse in bounded time"
        )


def _estimated_depth(html: str, limit: int) -> int:
    """Return the deepest nesting of `html`'s elements, stopping once it passes `limit`."""
    stack: list[str] = []
    open_count: dict[str, int] = {}  # elements of each name on `stack`
    deepest = 0
    skip_to: str | None = None

    for slash, raw_name in _TAG.findall(html):
        name = raw_name.lower()
        if skip_to is not None:
            if slash and name == skip_to:
                skip_to = None
            continue

        if slash:
            if open_count.get(name):
                _close(stack, open_count, name)
            continue
        if name in _SKIPPED_CONTENT:
            skip_to = name
            continue
        if name in _NOT_NESTING:
            continue
        if name in _CLOSE_SAME and open_count.get(name):
            _close(stack, open_count, name)

        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if len(stack) > deepest:
            deepest = len(stack)
            if deepest > limit:
                break
    return deepest


def _close(stack: list[str], open_count: dict[str, int], name: str) -> None:
    """Pop `stack` down to and including the innermost open `name`, as an end tag does."""
    while True:
        top = stack.pop()
        open_count[top] -= 1
        if top == name:
            return


def prune_json(value: Any, max_depth: int = MAX_JSON_DEPTH) -> tuple[Any, int]:
    """Cut the lists and objects nested deeper than `max_depth` below `value`; return it and the cut count.

    Parsed JSON can nest as deep as the decoder's recursion limit allows
    (about 1,000 levels), and a recursive walk over it then fails with
    RecursionError. A cut container becomes None in its parent, in place.
    """
    cut = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        children, depth = stack.pop()
        if isinstance(children, dict):
            keys: list[Any] = list(children)
        elif isinstance(children, list):
            keys = list(range(len(children)))
        else:
            continue

        for key in keys:
            child = children[key]
            if not isinstance(child, dict | list):
                continue
            if depth >= max_depth:
                children[key] = None
                cut += 1
            else:
                stack.append((child, depth + 1))
    return value, cut

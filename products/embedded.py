"""Products in embedded JSON state: `__NEXT_DATA__`, `window.__INITIAL_STATE__`, analytics data layers."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from product_extractor.products.draft import Draft

__all__ = ["embedded_drafts"]


def embedded_drafts(tree: LexborHTMLParser, *, base: str, country: str) -> list[Draft]:
    """Return product drafts found in the page's embedded JSON state, in page order.

    The "embedded-json" extraction method exists in the model and in the merge
    order (after OpenGraph, before the visible-page heuristics) so that this
    function can fill it without changing its callers.
    """
    # NOTE: not implemented yet, so this returns no drafts. The plan: parse
    # `<script type="application/json">`, `__NEXT_DATA__` and `window.X = {…}`
    # assignments, and keep objects with a name, a price and an id whose name
    # matches the page's main heading, so a recommended product's state is
    # never taken for the page's own.
    return []

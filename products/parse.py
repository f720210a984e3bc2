"""The parser's entry point: one HTML page in, its kind, products, product links and next page out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from selectolax.lexbor import LexborHTMLParser

from product_extractor.products.draft import Draft
from product_extractor.products.embedded import embedded_drafts
from product_extractor.products.heuristics import heuristic_draft
from product_extractor.products.jsonld import jsonld_blocks
from product_extractor.products.kind import (
    looks_like_product_page,
    product_heading,
    product_page_by_structured_data,
)
from product_extractor.products.listing import (
    ProductCard,
    card_links,
    find_next_page,
    find_product_cards,
    has_pagination,
    is_front_page,
    is_listing_url,
)
from product_extractor.products.microdata import microdata_items
from product_extractor.products.model import ExtractionMethod, Product
from product_extractor.products.opengraph import meta_properties, opengraph_draft
from product_extractor.products.page import Page
from product_extractor.products.prices import site_country
from product_extractor.products.schemaorg import draft_from_item, product_items
from product_extractor.products.text import absolute_url

__all__ = ["PageKind", "ParsedPage", "parse_page"]

PageKind = Literal["product", "listing", "other"]


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """One parsed page: its kind, the product records on it, and where a crawl goes next.

    `product_links` and `next_page_url` are filled for listing pages only:
    absolute, same-site URLs in page order.
    """

    url: str
    kind: PageKind
    products: list[Product]
    product_links: list[str]
    next_page_url: str | None


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    """Return the URL relative links resolve against: `<base href>` when present, else the page URL."""
    base = tree.css_first("base[href]")
    if base is None:
        return url
    return absolute_url(base.attributes.get("href"), url) or url


def _structured_drafts(
    tree: LexborHTMLParser, base: str, country: str
) -> dict[ExtractionMethod, list[Draft]]:
    """Run the JSON-LD and microdata extractors and return their product drafts in page order."""
    found: dict[ExtractionMethod, list[Draft]] = {"json-ld": [], "microdata": []}
    sources: list[tuple[ExtractionMethod, object]] = [
        ("json-ld", jsonld_blocks(tree)),
        ("microdata", microdata_items(tree)),
    ]
    for method, roots in sources:
        for item in product_items(roots):
            draft = draft_from_item(item, base=base, country=country, method=method)
            if draft.is_product():
                found[method].append(draft)
    return found


def _main_draft(drafts: list[Draft], page_url: str) -> Draft | None:
    """Pick the record a product page is about: the one with the page's URL, else the fullest, earliest."""
    if not drafts:
        return None
    for draft in drafts:
        if draft.url and draft.url.rstrip("/") == page_url.rstrip("/"):
            return draft
    return max(drafts, key=lambda draft: (draft.price is not None, draft.filled()))


def _name_key(text: str) -> str:
    return "".join(character for character in text.casefold() if character.isalnum())


# Characters a product name needs before it may match inside a longer title
# ("Desk Lamp" inside "Desk Lamp | Shop"); shorter names must match whole.
_MIN_CONTAINED_NAME = 8


def _embedded_main(drafts: list[Draft], page_url: str, titles: list[str]) -> Draft | None:
    """Pick the page's own product among embedded-state objects, or None when none is clearly it.

    State blobs hold recommended and recently viewed products too, so an
    object counts only when its name matches one of the page's titles (the
    main heading, og:title, the structured-data name) or its URL is the page's.
    """
    keys = [_name_key(title) for title in titles]
    keys = [key for key in keys if key]
    for draft in drafts:
        if draft.url and draft.url.rstrip("/") == page_url.rstrip("/"):
            return draft
        name = _name_key(draft.name or "")
        if not name:
            continue
        for key in keys:
            shorter, longer = sorted((name, key), key=len)
            if shorter == longer or (len(shorter) >= _MIN_CONTAINED_NAME and shorter in longer):
                return draft
    return None


def _merge_product(sources: list[Draft | None]) -> Draft | None:
    """Merge a page's sources, most trusted first: the first product leads and the rest fill its gaps."""
    present = [draft for draft in sources if draft is not None]
    for draft in present:
        draft.drop_placeholders()
    lead = next((draft for draft in present if draft.is_product()), None)
    if lead is None:
        return None
    for other in present:
        if other is not lead:
            lead.fill_from(other)
    return lead


def _has_core_fields(drafts: list[Draft | None]) -> bool:
    """Tell whether the structured sources together give a name, a price, an availability and a sku."""
    present = [draft for draft in drafts if draft is not None]
    return all(
        any(getattr(draft, name) is not None for draft in present)
        for name in ("name", "price", "availability", "sku")
    )


def _prefer_shown_price(lead: Draft, visible: Draft) -> None:
    """Replace a structured-data price that the page shows crossed out with the lower price it displays.

    Shops often keep the list price in their markup while the page shows a
    discount: the shopper pays the price displayed, not the struck-out one.
    """
    if lead is visible or lead.price is None or visible.price is None:
        return
    if (
        lead.price in visible.old_prices
        and visible.price not in visible.old_prices
        and visible.price < lead.price
    ):
        lead.price = visible.price
        lead.currency = visible.currency or lead.currency


@dataclass(frozen=True, slots=True)
class _Kind:
    """Whether a page is about one product and, when it is not, its product cards and next page."""

    is_product: bool
    cards: list[ProductCard]
    next_page: str | None


def _decide_kind(
    page: Page,
    *,
    url: str,
    base: str,
    meta: dict[str, list[str]],
    structured_names: list[str],
    opengraph: Draft | None,
) -> _Kind:
    """Decide whether a page is a product page, from structured data first and the visible page second."""
    by_structured_data = product_page_by_structured_data(
        structured_names, has_opengraph_product=opengraph is not None
    )
    if by_structured_data is True:
        return _Kind(is_product=True, cards=[], next_page=None)

    next_page = find_next_page(page, base=base, page_url=url)
    # One or two cards make a listing where the page shows it is one:
    # pagination, or a search or category URL. Elsewhere they may be a product
    # page's own buy box around a brand link, so they wait until the page is
    # known not to be a product page.
    few_cards = next_page is not None or has_pagination(page) or is_listing_url(url)
    cards = find_product_cards(page, base=base, site=url, few_cards=few_cards)
    if by_structured_data is None:
        if looks_like_product_page(
            page, url=url, meta=meta, cards=cards, has_next_page=next_page is not None
        ):
            return _Kind(is_product=True, cards=[], next_page=None)
        if not cards:
            # A page without a product of its own that shows one or two cards is a
            # search with few hits or a small category on one page.
            cards = find_product_cards(page, base=base, site=url, few_cards=True)
    return _Kind(is_product=False, cards=cards, next_page=next_page)


def _parse(html: str, url: str) -> ParsedPage:
    tree = LexborHTMLParser(html)
    page = Page.build(tree)
    base = _base_url(tree, url)
    country = site_country(url)

    structured = _structured_drafts(tree, base, country)
    meta = meta_properties(tree)
    opengraph = opengraph_draft(meta, base=base, country=country)
    structured_names = [draft.name for draft in structured["json-ld"] + structured["microdata"] if draft.name]

    kind = _decide_kind(
        page, url=url, base=base, meta=meta, structured_names=structured_names, opengraph=opengraph
    )
    if kind.is_product:
        heading = product_heading(page, url=url, meta=meta)
        heuristic = heuristic_draft(page, meta, url=url, base=base, country=country, heading=heading)
        json_ld = _main_draft(structured["json-ld"], url)
        microdata = _main_draft(structured["microdata"], url)
        titles = [draft.name for draft in (json_ld, microdata, opengraph, heuristic) if draft and draft.name]
        embedded = None
        # Decoding state blobs costs up to tens of milliseconds on large pages, so
        # they are read only when structured data leaves a core field empty.
        if not _has_core_fields([json_ld, microdata, opengraph]):
            embedded = _embedded_main(embedded_drafts(tree, base=base, country=country), url, titles)
        if embedded is not None:
            # NOTE: state blobs carry the catalogue's brand ("GOOGLE NEST") even where the
            # page shows none, so an embedded brand is left out of the merged record.
            embedded.brand = None
        lead = _merge_product([json_ld, microdata, opengraph, embedded, heuristic])
        if lead is not None:
            _prefer_shown_price(lead, heuristic)
            # NOTE: a priced product with no stock value anywhere counts as in stock,
            # because shops rarely show a price for what they cannot sell. A page
            # saved without its buy box and stock notice breaks this guess.
            if lead.availability is None and lead.price is not None:
                lead.availability = "InStock"
        products = [lead.to_product(url)] if lead is not None else []
        return ParsedPage(url=url, kind="product", products=products, product_links=[], next_page_url=None)

    product_links = card_links(kind.cards)
    # A front page's cards are teasers picked from many categories, not a
    # category of its own, unless it pages through them like a listing.
    # NOTE: a one-page shop that lists its whole catalogue on "/" is "other" too.
    if is_front_page(url) and kind.next_page is None:
        product_links = []
    if product_links:
        records = [draft.to_product(url) for draft in structured["json-ld"] or structured["microdata"]]
        return ParsedPage(
            url=url,
            kind="listing",
            products=records,
            product_links=product_links,
            next_page_url=kind.next_page,
        )

    return ParsedPage(url=url, kind="other", products=[], product_links=[], next_page_url=kind.next_page)


def parse_page(html: str, url: str) -> ParsedPage:
    """Parse one HTML page fetched from `url` into its kind, product records, product links and next page.

    Pure and thread-safe: it reads only its arguments. Broken input does not
    raise. The parts that cannot be read are skipped, and an empty or
    unreadable page is kind "other" with nothing in it.

    >>> page = parse_page('<script type="application/ld+json">{"@type": "Product", "name": "Mug"}</script>',
    ...                   "https://shop.example/mug")
    >>> page.kind, page.products[0].name
    ('product', 'Mug')
    """
    if not html or not html.strip():
        return ParsedPage(url=url, kind="other", products=[], product_links=[], next_page_url=None)
    try:
        return _parse(html, url)
    except (ValueError, TypeError, AttributeError, RecursionError, IndexError, KeyError):
        # NOTE: a bug in one extractor lands here too and makes the page look
        # empty. Callers only see "other", so the corpus tests must catch it.
        return ParsedPage(url=url, kind="other", products=[], product_links=[], next_page_url=None)

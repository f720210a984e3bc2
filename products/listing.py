"""Listing pages: product cards and their links, and the pagination that leads to the next page.

A listing shows its products as repeated cards: sibling elements of one shape,
each holding a link to one product plus its image, name or price. Cards are
found by climbing from each link to the largest element that links nowhere
else, then grouping those elements by tag, class and parent shape.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from selectolax.lexbor import LexborNode

from product_extractor.products.page import Page, SelectorList
from product_extractor.products.text import CaselessPattern, absolute_url, clean_text, same_site

__all__ = [
    "MIN_CARDS",
    "ProductCard",
    "card_links",
    "find_next_page",
    "find_product_cards",
    "find_product_links",
    "has_pagination",
    "is_front_page",
    "is_listing_url",
]

# Link targets that are never a product detail page: carts, accounts, help
# pages, pagination and sorting, social sites, blogs and store finders.
# Branches are grouped by their first character, because Python's `re` tries
# an alternation's branches one by one at every position. That cuts a search
# from about 6.8 to 2.9 us per href (the corpus's 31,102 distinct hrefs, on a
# 2-core machine). Only whether it matches counts, so "#" alone also covers
# "#reviews".
_NON_PRODUCT_HREF = CaselessPattern(
    re.compile(
        r"/(?:cart\b|account|help|contact|faq|privacy|terms|search\?|s\?|blog/|stores?/?$|store-?locator)"
        r"|#"
        r"|[?&](?:(?:page|p|pg|_pgn|start|offset)=\d+|sort=)"
        # A link to the image file itself opens a zoom view, not the product page.
        r"|\.(?:jpe?g|png|gif|webp|svg)(?:[?#]|$)"
        r"|b(?:asket|uyingoptions=)"
        r"|c(?:heckout|ompare|ustomer_reviews)"
        r"|facebook\.com|instagram\.com|pinterest\.|twitter\.com"
        r"|log-?in|sign-?in|register|my-?account|mailto:|sortfield="
        r"|w(?:ish-?list|rite-?a?-?review)",
        re.IGNORECASE,
    )
)

# Classes of links and their containers that are not the card's product link.
_NON_PRODUCT_CLASS = CaselessPattern(
    re.compile(
        r"wish|favou?rite|compare|review|rating|quick-?view|quickview|add-?to-?cart|addtocart|cart|pagination|pager"
        r"|page-?link|breadcrumb|filter|facet|refine|sort|swatch|color-?chip|out-of-stock|notify|alert",
        re.IGNORECASE,
    )
)

# Currency marks of a price shown on a card: symbols, and the codes written before or after the amount.
_CURRENCY_SYMBOLS = "$€£¥₹₩₽₪₺"
_CODES_BEFORE_AMOUNT = (
    "USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK",
    "PLN", "CZK", "RUB", "zł", "kr", "Kč", "lei", "Rs",
)  # fmt: skip
_CODES_AFTER_AMOUNT = (
    "USD", "EUR", "GBP", "CAD", "CHF", "SEK", "NOK", "DKK", "PLN",
    "CZK", "zł", "kr", "Kč", "lei", "руб", "грн", "тг",
)  # fmt: skip
_SYMBOL_CLASS = f"[{_CURRENCY_SYMBOLS}]"
# "Rs" may be written "Rs.".
_CODE_BEFORE = "|".join(r"Rs\.?" if code == "Rs" else code for code in _CODES_BEFORE_AMOUNT)
_CODE_AFTER = "|".join(_CODES_AFTER_AMOUNT)
_PRICE_TEXT = re.compile(
    rf"(?:{_SYMBOL_CLASS}|\b(?:{_CODE_BEFORE})\b)\s?\d"
    rf"|\d[\d.,]*\s?(?:{_SYMBOL_CLASS}|\b(?:{_CODE_AFTER})\b)",
)
# Every match of `_PRICE_TEXT` contains one of these marks. Most card texts
# contain none, and this search, a branch of plain strings that `re` skips
# through quickly, rejects them before `_PRICE_TEXT` scans them.
_CURRENCY_MARK = re.compile(
    "|".join(
        re.escape(mark)
        for mark in dict.fromkeys([*_CURRENCY_SYMBOLS, *_CODES_BEFORE_AMOUNT, *_CODES_AFTER_AMOUNT])
    )
)

# Fewest cards of one shape that make a product grid, and how small another
# grid may be next to the largest (a second results block, not a teaser).
MIN_CARDS = 3
MIN_GROUP_SHARE = 0.3

# Characters of text a product card holds at most; a larger element is a
# page section that happens to link one product, not a card.
MAX_CARD_TEXT = 3000

# Links to one address a listing may repeat per product (image, name, "more",
# reviews). An address linked more often is boilerplate repeated in every card
# ("shipping costs", "size guide"), and it would split each card in two.
MAX_LINKS_PER_PRODUCT = 6


@dataclass(frozen=True, slots=True)
class ProductCard:
    """One product card on a listing: the product's link and the element that shows the product."""

    href: str
    node: LexborNode
    position: int


def _normalize_href(href: str) -> str:
    """Drop the fragment, so an image link and a "#reviews" link to one product count once."""
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


# Numbered classes ("col-3", "item-12") differ per card, so their digits do not name the shape.
_DIGITS = re.compile(r"[0-9]+")


def _shape(node: LexborNode, page: Page) -> str:
    classes = " ".join(sorted((page.attributes_of(node).get("class") or "").split()))
    return f"{node.tag}.{_DIGITS.sub('', classes)}"


def _product_target(raw: str | None, base: str, site: str) -> str | None:
    """Return a link's absolute target without fragment, or None unless it may be a product page.

    A product page is on the same site and is not a cart, login, page of results or image.
    """
    text = raw or ""
    # The `href` text is checked first because that is cheaper than resolving it.
    if text.startswith("#") or _NON_PRODUCT_HREF.search(text):
        return None
    href = absolute_url(raw, base)
    if href is None or not same_site(href, site):
        return None
    return _normalize_href(href)


def _is_candidate_link(anchor: LexborNode, page: Page) -> bool:
    """Tell whether a link to a possible product page is a product link by its class, rel and place."""
    attributes = page.attributes_of(anchor)
    if _NON_PRODUCT_CLASS.search(attributes.get("class") or ""):
        return False
    if attributes.get("rel") in ("nofollow sponsored", "sponsored"):
        return False
    return not page.in_chrome(anchor)


def _card_of(
    anchor: LexborNode, href: str, links_by_node: dict[int, set[str]], heading_path: set[int]
) -> LexborNode:
    """Climb from a link to the largest ancestor whose candidate links all go to `href`.

    The climb stops below the page's main heading, because a card never
    contains the heading of the page it sits on.
    """
    card = anchor
    parent = anchor.parent
    while parent is not None and parent.tag not in ("body", "html", None):
        if parent.mem_id in heading_path:
            break
        hrefs = links_by_node.get(parent.mem_id)
        if hrefs is not None and hrefs != {href}:
            break
        card = parent
        parent = parent.parent
    return card


def _looks_like_card(node: LexborNode) -> tuple[bool, bool]:
    """Return whether a card shows a price, and whether it shows an image."""
    text = node.text(deep=True, separator=" ")
    if len(text) > MAX_CARD_TEXT:
        return False, False
    has_price = (
        bool(_CURRENCY_MARK.search(text) and _PRICE_TEXT.search(text))
        or node.css_first("[class*=price i], [itemprop=price]") is not None
    )
    has_image = node.css_first("img, picture, [style*=background-image]") is not None
    return has_price, has_image


def find_product_cards(page: Page, *, base: str, site: str, few_cards: bool = False) -> list[ProductCard]:
    """Return a listing's product cards in page order, their links absolute, same-site and without fragment.

    `site` is the URL whose site counts as "same site" (the page's own URL).
    Links in navigation, footers, recommendation strips, pagination, reviews,
    wish lists and carts are not product links. A grid needs `MIN_CARDS`
    cards of one shape. The caller sets `few_cards` where the page shows it is
    a listing (pagination, a search URL). Then one or two cards count as well
    when each of them shows a price, or an image and a name, as on a short
    search result or the last page of a category.
    """
    body = page.tree.body
    if body is None:
        return []

    anchors: list[tuple[LexborNode, str]] = []
    # Listings link each product several times, so each target is resolved and checked once.
    targets: dict[str | None, str | None] = {}
    for anchor in body.css("a[href]"):
        # The link's place is checked first, because resolving its target costs more.
        if not _is_candidate_link(anchor, page):
            continue
        raw = page.attributes_of(anchor).get("href")
        if raw in targets:
            target = targets[raw]
        else:
            target = targets[raw] = _product_target(raw, base, site)
        if target is not None:
            anchors.append((anchor, target))
    repeats = Counter(href for _, href in anchors)
    anchors = [(anchor, href) for anchor, href in anchors if repeats[href] <= MAX_LINKS_PER_PRODUCT]

    # For each element with candidate links below it, the hrefs of those links,
    # built bottom-up from each link. `_card_of` only tests whether a set
    # equals {href}, so a set stops growing at two hrefs. Every ancestor of an
    # element with two has two as well, so the climb stops there.
    links_by_node: dict[int, set[str]] = defaultdict(set)
    for anchor, href in anchors:
        parent = anchor.parent
        while parent is not None and parent.tag not in ("html", None):
            hrefs = links_by_node[parent.mem_id]
            if href in hrefs or len(hrefs) >= 2:
                # An earlier link already marked every ancestor above.
                break
            hrefs.add(href)
            parent = parent.parent

    heading_path = _heading_path(page)
    groups: dict[str, list[ProductCard]] = defaultdict(list)
    seen_cards: set[int] = set()
    for anchor, href in anchors:
        card = _card_of(anchor, href, links_by_node, heading_path)
        if card.mem_id in seen_cards:
            continue
        seen_cards.add(card.mem_id)
        parent = card.parent
        key = _shape(card, page) + " < " + (_shape(parent, page) if parent is not None else "")
        groups[key].append(ProductCard(href=href, node=card, position=page.position(card)))

    qualified = _grids(groups.values(), min_cards=MIN_CARDS)
    if not qualified and few_cards:
        qualified = _grids(groups.values(), min_cards=1)
    if not qualified:
        return []

    largest = max(len(cards) for cards in qualified)
    chosen = [entry for cards in qualified if len(cards) >= largest * MIN_GROUP_SHARE for entry in cards]
    chosen.sort(key=lambda entry: entry.position)
    return chosen


def _grids(groups: Iterable[list[ProductCard]], *, min_cards: int) -> list[list[ProductCard]]:
    """Keep the groups of at least `min_cards` distinct links whose cards look like product cards.

    Most cards of a grid of `MIN_CARDS` or more must show a price, or an image
    and a name. Every card of a smaller group must, because one stray block
    (a banner, a logo link) otherwise passes for a grid of one.
    """
    qualified: list[list[ProductCard]] = []
    for cards in groups:
        if len({card.href for card in cards}) < min_cards:
            continue
        looks = [_looks_like_card(card.node) for card in cards]
        priced = sum(has_price for has_price, _ in looks)
        pictured = sum(has_image for _, has_image in looks)
        needed = len(cards) if len(cards) < MIN_CARDS else len(cards) / 2
        if priced >= needed or (pictured >= needed and _has_names(cards)):
            qualified.append(cards)
    return qualified


def card_links(cards: list[ProductCard]) -> list[str]:
    """Return the cards' product links, each once, in page order."""
    return list(dict.fromkeys(card.href for card in cards))


def find_product_links(page: Page, *, base: str, site: str, few_cards: bool = False) -> list[str]:
    """Return the product links of a listing's cards: absolute, same-site, de-duplicated, in page order."""
    return card_links(find_product_cards(page, base=base, site=site, few_cards=few_cards))


def _heading_path(page: Page) -> set[int]:
    """Return the ids of the first h1 and all its ancestors, or an empty set on a page without one."""
    heading = page.tree.css_first("h1")
    path: set[int] = set()
    while heading is not None and heading.tag not in ("html", None):
        path.add(heading.mem_id)
        heading = heading.parent
    return path


def _has_names(cards: list[ProductCard]) -> bool:
    """Return whether most cards carry a product name: a few words of text, not only an image or a number."""
    named = 0
    for card in cards:
        text = clean_text(card.node.text(deep=True, separator=" ")) or ""
        if len(re.findall(r"[^\W\d_]{2,}", text)) >= 2:
            named += 1
    return named * 2 >= len(cards)


# --- pagination ---------------------------------------------------------------

# Labels of a link to the next page, matched whole and ignoring case, maybe followed by an arrow.
_NEXT_LABELS = (
    "next", "next page", "next ›", "next »", "›", "»", ">", ">>", "→", "weiter", "nächste", "nächste seite",
    "vor", "suivant", "page suivante", "siguiente", "próximo", "próxima", "seguinte", "volgende", "następna",
    "następna strona", "successivo", "successiva", "avanti", "далее", "следующая", "вперед", "вперёд",
    "další", "ďalšia", "következő", "nästa", "neste", "næste", "seuraava", "次へ", "下一页", "下一頁", "다음",
)  # fmt: skip
_NEXT_WORDS = re.compile(rf"^(?:{'|'.join(map(re.escape, _NEXT_LABELS))})\s*[›»>→]?$", re.IGNORECASE)
# Characters in the longest text that `_NEXT_WORDS` matches after `clean_text`:
# the longest label, one space and one arrow. `re` matches one character of
# text per character of a label, also when ignoring case.
_NEXT_TEXT_MAX = max(map(len, _NEXT_LABELS)) + 2
_NEXT_CLASS = re.compile(
    r"(?:^|[\s_-])(?:i-)?next(?:[\s_-]|$)|pagination-?next|pager-?next|a-last|nextpage|next_page",
    re.IGNORECASE,
)
MAX_NEXT_TEXT = 30
_CAROUSEL_CLASS = re.compile(r"carousel|slider|slick|swiper|hmenu|gallery", re.IGNORECASE)
_DISABLED_CLASS = re.compile(r"disabled|inactive|is-disabled", re.IGNORECASE)


def _link_of(node: LexborNode) -> LexborNode | None:
    """Return the link a pagination element stands for: itself, a link inside it, or the link around it."""
    if node.tag == "a" and "href" in node.attributes:
        return node
    inner = node.css_first("a[href]")
    if inner is not None:
        return inner
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html", None):
        if parent.tag == "a" and "href" in parent.attributes:
            return parent
        parent = parent.parent
    return None


def _is_next_label(text: str | None) -> bool:
    """Tell whether a link's text or label, as `clean_text` returns it, is "Next" in one of many languages."""
    return text is not None and len(text) <= _NEXT_TEXT_MAX and _NEXT_WORDS.match(text) is not None


_REL_NEXT_SELECTOR = SelectorList.parse("link[rel~=next i], a[rel~=next i]")
_NEXT_CLASS_SELECTOR = SelectorList.parse("[class*=next i], [id*=next i]")


def find_next_page(page: Page, *, base: str, page_url: str) -> str | None:
    """Return the absolute URL of the next page, or None on the last page or a page without pagination.

    Looks at `rel="next"` first, then links whose class contains "next", then
    links whose text or label is "Next" in one of many languages.
    """
    for node in page.select(_REL_NEXT_SELECTOR):
        url = absolute_url(node.attributes.get("href"), base)
        if url is not None and url != page_url:
            return url

    for node in page.select(_NEXT_CLASS_SELECTOR):
        attributes = page.attributes_of(node)
        if not _NEXT_CLASS.search((attributes.get("class") or "") + " " + (attributes.get("id") or "")):
            continue
        if _DISABLED_CLASS.search(attributes.get("class") or ""):
            continue
        # A "next" control is a word or an arrow. A large element with "next" in
        # its class is a carousel or a layout block.
        if len(node.text(deep=True, strip=True)) > MAX_NEXT_TEXT:
            continue
        if _CAROUSEL_CLASS.search(attributes.get("class") or ""):
            continue
        link = _link_of(node)
        if link is None or _DISABLED_CLASS.search(link.attributes.get("class") or ""):
            continue
        # An arrow icon inside a link labelled with other words decorates that link.
        link_text = clean_text(link.text(deep=True, separator=" "))
        if link is not node and link_text is not None and not _NEXT_WORDS.match(link_text):
            continue
        url = absolute_url(link.attributes.get("href"), base)
        if url is not None and url.split("#")[0] != page_url:
            return url

    # Every link's text is read here, so the length check skips the pattern for most of them.
    for link in page.tree.css("a[href]"):
        attributes = page.attributes_of(link)
        if not (
            _is_next_label(clean_text(attributes.get("aria-label") or attributes.get("title")))
            or _is_next_label(clean_text(link.text(deep=True, separator=" ")))
        ):
            continue
        url = absolute_url(attributes.get("href"), base)
        if url is not None and url.split("#")[0] != page_url:
            return url
    return None


_PAGINATION_SELECTOR = SelectorList.parse(
    "link[rel~=next i], a[rel~=next i], link[rel~=prev i], a[rel~=prev i],"
    " [class*=pagination i], [class*=paginator i], [class*=pager i], [class*=page-numbers i]"
)


def has_pagination(page: Page) -> bool:
    """Tell whether a page links to a previous or next page of its own, as a listing's pages do.

    Reviews and comments are paginated too, so this is evidence for a
    listing only next to product cards.

    NOTE: a product's paginated reviews page that shows the product in a
    summary box therefore parses as a listing with that one product link.
    """
    for node in page.select(_PAGINATION_SELECTOR):
        if node.tag in ("link", "a") or len(node.css("a[href]")) >= 2:
            return True
    return False


# Search and category URLs: a query parameter of a site search, or a path
# segment that names a catalogue section.
_LISTING_URL = re.compile(
    r"[?&](?:q|query|search|keyword|keywords|_nkw|text|term|searchterm|description)="
    r"|/(?:search|sch|category|categories|catalog|catalogsearch|collections?|shop/featured|productlist|browse|c)"
    r"(?:[/.?&]|$)",
    re.IGNORECASE,
)


def is_listing_url(url: str) -> bool:
    """Tell whether a URL is a site search or a catalogue section ("/search?q=", "/category/", "/c/")."""
    return bool(_LISTING_URL.search(url))


_FRONT_PAGE_PATH = re.compile(r"^/?(?:index\.\w{2,5}|home|default\.\w{2,5})?/?$", re.IGNORECASE)


def is_front_page(url: str) -> bool:
    """Tell whether a URL is a site's front page: the root path or an index file, without a query."""
    parts = urlsplit(url)
    return not parts.query and bool(_FRONT_PAGE_PATH.match(parts.path))

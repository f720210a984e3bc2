"""Listing pages: product-card links, the pagination "next" link, and telling product pages from the rest.

A listing shows its products as repeated cards: sibling elements of one shape,
each holding a link to one product plus its image, name or price. Cards are
found by climbing from each link to the largest element that links nowhere
else, then grouping those elements by tag, class and parent shape.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from product_extractor.products.page import Page
from product_extractor.products.text import absolute_url, clean_text, same_site

__all__ = [
    "find_next_page",
    "find_product_links",
    "looks_like_product_page",
    "product_page_by_structured_data",
]

# Link targets that are never a product detail page.
_NON_PRODUCT_HREF = re.compile(
    r"wish-?list|/cart\b|basket|checkout|log-?in|sign-?in|register|/account|my-?account|compare|"
    r"write-?a?-?review|#reviews?|customer_reviews|#|/help|/contact|/faq|/privacy|/terms|mailto:|"
    r"[?&](?:page|p|pg|_pgn|start|offset)=\d+|sortfield=|buyingoptions=|[?&]sort=|/search\?|/s\?|facebook\.com|"
    r"twitter\.com|pinterest\.|instagram\.com|/blog/|/stores?/?$|/store-?locator",
    re.IGNORECASE,
)

# Classes of links and their containers that are not the card's product link.
_NON_PRODUCT_CLASS = re.compile(
    r"wish|favou?rite|compare|review|rating|quick-?view|quickview|add-?to-?cart|addtocart|cart|pagination|pager"
    r"|page-?link|breadcrumb|filter|facet|refine|sort|swatch|color-?chip",
    re.IGNORECASE,
)

_PRICE_TEXT = re.compile(
    r"(?:[$€£¥₹₩₽₪₺]|\b(?:USD|EUR|GBP|CAD|AUD|CHF|SEK|NOK|DKK|PLN|CZK|RUB|zł|kr|Kč|lei|Rs\.?)\b)\s?\d"
    r"|\d[\d.,]*\s?(?:[$€£¥₹₩₽₪₺]|\b(?:USD|EUR|GBP|CAD|CHF|SEK|NOK|DKK|PLN|CZK|zł|kr|Kč|lei|руб|грн|тг)\b)",
)

# Fewest cards of one shape that make a product grid, and how small another
# grid may be next to the largest (a second results block, not a teaser).
MIN_CARDS = 3
MIN_GROUP_SHARE = 0.3

# Characters of text a product card holds at most; a larger element is a
# page section that happens to link one product, not a card.
MAX_CARD_TEXT = 3000

# A product page's buy box has a few buy buttons (add to cart, buy now, add
# to a list), while a listing has one per card or none.
MAX_PRODUCT_PAGE_BUTTONS = 4

# Cards a product page may show in strips of other products that the chrome
# rules missed ("customers also bought"). A listing page shows more.
MAX_PRODUCT_PAGE_CARDS = 12


@dataclass(slots=True)
class _Card:
    href: str
    node: LexborNode
    position: int


def _normalize_href(href: str) -> str:
    """Drop the fragment, so an image link and a "#reviews" link to one product count once."""
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _shape(node: LexborNode) -> str:
    classes = " ".join(sorted((node.attributes.get("class") or "").split()))
    # Numbered classes ("col-3", "item-12") differ per card, so their digits do not name the shape.
    return f"{node.tag}.{re.sub(r'[0-9]+', '', classes)}"


def _is_candidate_link(anchor: LexborNode, href: str | None, site: str, page: Page) -> bool:
    if href is None or not same_site(href, site):
        return False
    raw = anchor.attributes.get("href") or ""
    if raw.startswith("#") or _NON_PRODUCT_HREF.search(raw):
        return False
    if _NON_PRODUCT_CLASS.search(anchor.attributes.get("class") or ""):
        return False
    if anchor.attributes.get("rel") in ("nofollow sponsored", "sponsored"):
        return False
    return not page.in_chrome(anchor)


def _card_of(anchor: LexborNode, href: str, links_by_node: dict[int, set[str]]) -> LexborNode:
    """Climb from a link to the largest ancestor whose candidate links all go to `href`."""
    card = anchor
    parent = anchor.parent
    while parent is not None and parent.tag not in ("body", "html", None):
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
        bool(_PRICE_TEXT.search(text)) or node.css_first("[class*=price i], [itemprop=price]") is not None
    )
    has_image = node.css_first("img, picture, [style*=background-image]") is not None
    return has_price, has_image


def find_product_links(page: Page, *, base: str, site: str) -> list[str]:
    """Return the product links of a listing's cards: absolute, same-site, de-duplicated, in page order.

    `site` is the URL whose site counts as "same site" (the page's own URL).
    Links in navigation, footers, recommendation strips, pagination, reviews,
    wish lists and carts are not product links.
    """
    body = page.tree.body
    if body is None:
        return []

    anchors: list[tuple[LexborNode, str]] = []
    for anchor in body.css("a[href]"):
        href = absolute_url(anchor.attributes.get("href"), base)
        if _is_candidate_link(anchor, href, site, page):
            anchors.append((anchor, _normalize_href(href or "")))

    # For each element, the set of candidate hrefs below it, built bottom-up from each link.
    links_by_node: dict[int, set[str]] = defaultdict(set)
    for anchor, href in anchors:
        parent = anchor.parent
        while parent is not None and parent.tag not in ("html", None):
            hrefs = links_by_node[parent.mem_id]
            if href in hrefs:
                # An earlier link to this product already marked every ancestor above.
                break
            hrefs.add(href)
            parent = parent.parent

    groups: dict[str, list[_Card]] = defaultdict(list)
    seen_cards: set[int] = set()
    for anchor, href in anchors:
        card = _card_of(anchor, href, links_by_node)
        if card.mem_id in seen_cards:
            continue
        seen_cards.add(card.mem_id)
        parent = card.parent
        key = _shape(card) + " < " + (_shape(parent) if parent is not None else "")
        groups[key].append(_Card(href=href, node=card, position=page.position(card)))

    qualified: list[list[_Card]] = []
    for cards in groups.values():
        if len({card.href for card in cards}) < MIN_CARDS:
            continue
        looks = [_looks_like_card(card.node) for card in cards]
        priced = sum(has_price for has_price, _ in looks)
        pictured = sum(has_image for _, has_image in looks)
        if priced * 2 >= len(cards) or (pictured * 2 >= len(cards) and _has_names(cards)):
            qualified.append(cards)
    if not qualified:
        return []

    largest = max(len(cards) for cards in qualified)
    chosen = [entry for cards in qualified if len(cards) >= largest * MIN_GROUP_SHARE for entry in cards]
    chosen.sort(key=lambda entry: entry.position)

    links: list[str] = []
    for entry in chosen:
        if entry.href not in links:
            links.append(entry.href)
    return links


def _has_names(cards: list[_Card]) -> bool:
    """Return whether most cards carry a product name: a few words of text, not only an image or a number."""
    named = 0
    for card in cards:
        text = clean_text(card.node.text(deep=True, separator=" ")) or ""
        if len(re.findall(r"[^\W\d_]{2,}", text)) >= 2:
            named += 1
    return named * 2 >= len(cards)


# --- pagination ---------------------------------------------------------------

_NEXT_WORDS = re.compile(
    r"^(?:next|next page|next ›|next »|›|»|>|>>|→|weiter|nächste|nächste seite|vor|suivant|page suivante"
    r"|siguiente|próximo|próxima|seguinte|volgende|następna|następna strona|successivo|successiva|avanti"
    r"|далее|следующая|вперед|вперёд|další|ďalšia|következő|nästa|neste|næste|seuraava|次へ|下一页|下一頁|다음)"
    r"\s*[›»>→]?$",
    re.IGNORECASE,
)
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


def find_next_page(tree: LexborHTMLParser, *, base: str, page_url: str) -> str | None:
    """Return the absolute URL of the next page, or None on the last page or a page without pagination.

    Looks at `rel="next"` first, then links whose class contains "next", then
    links whose text or label is "Next" in one of many languages.
    """
    for node in tree.css("link[rel~=next i], a[rel~=next i]"):
        url = absolute_url(node.attributes.get("href"), base)
        if url is not None and url != page_url:
            return url

    for node in tree.css("[class*=next i], [id*=next i]"):
        if not _NEXT_CLASS.search(
            (node.attributes.get("class") or "") + " " + (node.attributes.get("id") or "")
        ):
            continue
        if _DISABLED_CLASS.search(node.attributes.get("class") or ""):
            continue
        # A "next" control is a word or an arrow. A large element with "next" in
        # its class is a carousel or a layout block.
        if len(node.text(deep=True, strip=True)) > MAX_NEXT_TEXT:
            continue
        if _CAROUSEL_CLASS.search(node.attributes.get("class") or ""):
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

    for link in tree.css("a[href]"):
        label = clean_text(link.attributes.get("aria-label") or link.attributes.get("title"))
        text = clean_text(link.text(deep=True, separator=" "))
        if not any(value and _NEXT_WORDS.match(value) for value in (label, text)):
            continue
        url = absolute_url(link.attributes.get("href"), base)
        if url is not None and url.split("#")[0] != page_url:
            return url
    return None


# --- page kind ----------------------------------------------------------------


_BUY_SELECTOR = (
    "[id*=add-to-cart i], [class*=add-to-cart i], [id*=addtocart i], [class*=addtocart i],"
    " [name*=addtocart i],"
    " [id*=add-to-basket i], [class*=add-to-basket i], [id*=addtobasket i], [class*=addtobasket i],"
    " [class*=buy-now i], [id*=buy-now i], [id*=buynow i], [class*=buynow i], [id*=buy-button i],"
    " [class*=buy-button i], form[action*=cart i] button, form[action*=cart i] input[type=submit]"
)

# Path words of product-detail URLs on many shops (/dp/B0…, /p/…, /product/…, /itm/…).
_PRODUCT_PATH = re.compile(
    r"/(?:dp|gp/product|p|product|products|produkt|produit|prodotto|producto|itm|item|deal|deals|prod)/",
    re.IGNORECASE,
)


# Search and category URLs: a query parameter of a site search, or a path
# segment that names a catalogue section.
_LISTING_URL = re.compile(
    r"[?&](?:q|query|search|keyword|keywords|_nkw|text|term|searchterm|description)="
    r"|/(?:search|sch|category|categories|catalog|catalogsearch|collections?|shop/featured|productlist|browse|c)"
    r"(?:[/.?]|$)",
    re.IGNORECASE,
)


def _count_buy_boxes(page: Page) -> int:
    """Count buy elements outside page chrome, an element nested in another one counting once."""
    matched = [node for node in page.tree.css(_BUY_SELECTOR) if not page.in_chrome(node)]
    identities = {node.mem_id for node in matched}
    count = 0
    for node in matched:
        parent = node.parent
        while parent is not None and parent.mem_id not in identities:
            parent = parent.parent
        if parent is None:
            count += 1
    return count


def product_page_by_structured_data(
    structured_names: list[str], *, has_opengraph_product: bool
) -> bool | None:
    """Decide page kind from structured data: True for a product page, False for a listing, None if unsure.

    One named product in JSON-LD or microdata, or `og:type` product, makes a
    product page even when it shows strips of other products. Several
    distinct ones make a listing.
    """
    distinct = {name.casefold() for name in structured_names}
    if len(distinct) == 1 or has_opengraph_product:
        return True
    if len(distinct) >= MIN_CARDS:
        return False
    return None


def looks_like_product_page(
    page: Page, *, url: str, product_links: list[str], base: str, has_next_page: bool
) -> bool:
    """Decide from the visible page whether it is about one product, when structured data is silent.

    A grid of cards with a "next page" link or on a search or category URL
    is a listing. Otherwise one or two buy boxes under a main heading make a
    product page, because a listing has one per card. A heading with a price
    makes one too, on a page with few cards or on a product-style URL path
    without buy buttons.
    """
    # A grid of cards with a "next page" link, or on a search or category URL,
    # is a listing whatever else it shows.
    product_link_count = len(product_links)
    # NOTE: these rules misjudge shop home pages with product teasers (called
    # listings) and some small category pages (called product pages when the
    # card finder finds fewer than MAX_PRODUCT_PAGE_CARDS cards).
    if product_link_count >= MIN_CARDS and (has_next_page or _LISTING_URL.search(url)):
        return False

    tree = page.tree
    heading = tree.css_first("h1, #productTitle")
    if heading is None:
        return False
    buttons = _count_buy_boxes(page)
    if 1 <= buttons <= max(MAX_PRODUCT_PAGE_BUTTONS, product_link_count // 2):
        return True
    # Prices inside the cards belong to the listed products; a product page shows its own price outside them.
    if _price_outside_cards(page, base=base, product_links=set(product_links)) is None:
        return False
    if product_link_count < MAX_PRODUCT_PAGE_CARDS:
        return True
    return bool(_PRODUCT_PATH.search(urlsplit(url).path)) and buttons == 0


# Price elements looked at when deciding the page kind; a listing shows one per card.
_MAX_PRICES_CHECKED = 200
# Ancestors climbed from a price to find the card around it.
_MAX_CARD_DEPTH = 6


def _price_outside_cards(page: Page, *, base: str, product_links: set[str]) -> LexborNode | None:
    """Return the first price element that is neither page chrome nor inside a product card."""
    for price in page.tree.css("[itemprop=price], [class*=price i], [id*=price i]")[:_MAX_PRICES_CHECKED]:
        if page.in_chrome(price):
            continue
        if not product_links or not _inside_card(price, base=base, product_links=product_links):
            return price
    return None


def _inside_card(node: LexborNode, *, base: str, product_links: set[str]) -> bool:
    """Tell whether the nearest ancestor holding a product link holds exactly one product, as a card does."""
    ancestor = node.parent
    for _ in range(_MAX_CARD_DEPTH):
        if ancestor is None or ancestor.tag in ("body", "html"):
            return False
        linked = {
            _normalize_href(absolute_url(anchor.attributes.get("href"), base) or "")
            for anchor in ancestor.css("a[href]")
        }
        found = linked & product_links
        if found:
            return len(found) == 1
        ancestor = ancestor.parent
    return False

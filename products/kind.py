"""Page kind: whether a page is about one product, lists products, or is something else.

Structured data decides when it names products. Without it, a page counts as
a product page only on visible evidence. It needs a main heading that names
one product (not the site, not a generic title, not a card). It also needs a
price or a buy box of its own, outside the product cards and the page chrome.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from product_extractor.products.heuristics import title_heading
from product_extractor.products.listing import MIN_CARDS, ProductCard, card_links, is_listing_url
from product_extractor.products.page import Page, SelectorList, attribute_words
from product_extractor.products.text import absolute_url, clean_text, site_key

__all__ = ["looks_like_product_page", "product_heading", "product_page_by_structured_data"]

# A product page's buy box has a few buy buttons (add to cart, buy now, add
# to a list), while a listing has one per card or none.
MAX_PRODUCT_PAGE_BUTTONS = 4

# Cards a product page may show in strips of other products that the chrome
# rules missed ("customers also bought"). A listing page shows more.
MAX_PRODUCT_PAGE_CARDS = 12

_BUY_SELECTOR = SelectorList.parse(
    "[id*=add-to-cart i], [class*=add-to-cart i], [id*=addtocart i], [class*=addtocart i],"
    " [name*=addtocart i],"
    " [id*=add-to-basket i], [class*=add-to-basket i], [id*=addtobasket i], [class*=addtobasket i],"
    " [class*=buy-now i], [id*=buy-now i], [id*=buynow i], [class*=buynow i], [id*=buy-button i],"
    " [class*=buy-button i], [id*=buy_btn i], [class*=buy_btn i],"
    " form[action*=cart i] button, form[action*=cart i] input[type=submit]"
)

# Path words of product-detail URLs on many shops (/dp/B0…, /p/…, /product/…, /itm/…).
_PRODUCT_PATH = re.compile(
    r"/(?:dp|gp/product|p|product|products|produkt|produit|prodotto|producto|itm|item|deal|deals|prod)/",
    re.IGNORECASE,
)

# Headings that greet the visitor or number the page name the site or the
# listing, never one product: "Welcome to …", "Bienvenido a …", "Page 2 of 4".
_GENERIC_HEADING = re.compile(
    r"^(?:welcome|bienvenid[oa]s?|bem-vind[oa]s?|willkommen|bienvenue|benvenut[oia]|welkom|witamy|välkommen"
    r"|velkommen|search results?|suchergebnisse|résultats de recherche|resultados de (?:la )?búsqueda)\b"
    r"|\b(?:page|seite|página|pagina|strona|sida|side)\s+\d+\s+(?:of|von|de|di|z|av|af)\s+\d+\b"
    r"|^(?:customer reviews|reviews|all products|products|shop|home|search)$"
    r"|^(?:all products|alle produkte|tous les produits|todos los productos|tutti i prodotti)\b",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_HIDDEN_CLASS = re.compile(
    r"(?:^|\s)(?:hidden|sr-only|visually-?hidden|screen-?reader-text)(?:\s|$)", re.IGNORECASE
)

_NON_ZERO_DIGIT = re.compile(r"[1-9]")

# Ancestors checked for an inline style or class that hides a heading.
_MAX_HIDDEN_DEPTH = 4

_PRICE_SELECTOR = SelectorList.parse("[itemprop=price], [class*=price i], [id*=price i]")

# Price elements looked at when deciding the page kind; a listing shows one per card.
_MAX_PRICES_CHECKED = 200


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
    page: Page, *, url: str, meta: dict[str, list[str]], cards: list[ProductCard], has_next_page: bool
) -> bool:
    """Decide from the visible page whether it is about one product, when structured data is silent.

    A grid of cards with a "next page" link or on a search or category URL
    is a listing. Otherwise the page needs a main heading that names one
    product. Then one or two buy boxes outside the cards make a product page,
    because a listing has one per card. Without them, a price outside the
    cards and the chrome does, on a page with few cards or on a
    product-style URL path without buy buttons.
    """
    product_link_count = len(card_links(cards))
    if product_link_count >= MIN_CARDS and (has_next_page or is_listing_url(url)):
        return False

    card_ids = {card.node.mem_id for card in cards}
    heading = product_heading(page, url=url, meta=meta)
    if heading is None or _inside_any(heading, card_ids):
        return False

    buttons = _count_buy_boxes(page, card_ids)
    if 1 <= buttons <= max(MAX_PRODUCT_PAGE_BUTTONS, product_link_count // 2):
        return True
    # Prices inside the cards belong to the listed products; a product page shows its own price outside them.
    if _price_outside_cards(page, heading, card_ids) is None:
        return False
    if product_link_count < MAX_PRODUCT_PAGE_CARDS:
        return True
    return bool(_PRODUCT_PATH.search(urlsplit(url).path)) and buttons == 0


def product_heading(page: Page, *, url: str, meta: dict[str, list[str]]) -> LexborNode | None:
    """Return the heading that names the page's one product, or None when no heading does.

    Candidates are `#productTitle` and the h1 elements outside page chrome,
    in that order, and on a page without an h1 the element whose text is the
    product part of `<title>`. The first candidate that names a product wins.
    """
    candidates = [node for node in page.tree.css("#productTitle, h1") if not page.in_chrome(node)]
    candidates.sort(key=lambda node: node.attributes.get("id") != "productTitle")
    if page.tree.css_first("h1") is None:
        titled = title_heading(page, meta)
        if titled is not None:
            candidates.append(titled)

    for node in candidates:
        if _names_one_product(node, page=page, url=url, meta=meta):
            return node
    return None


def _names_one_product(node: LexborNode, *, page: Page, url: str, meta: dict[str, list[str]]) -> bool:
    """Tell whether a heading names one product: visible, and not a logo, a link, the site or a greeting."""
    text = clean_text(node.text(deep=True, separator=" "))
    if text is None or len(text) < 3 or _is_hidden(node):
        return False
    if _is_logo(node, url=url) or _mostly_links(node, text=text, url=url):
        return False
    return not _names_site(text, url=url, meta=meta)


def _is_hidden(node: LexborNode) -> bool:
    """Tell whether the element or a near ancestor is hidden by an attribute, inline style or class."""
    current: LexborNode | None = node
    for _ in range(_MAX_HIDDEN_DEPTH):
        if current is None or current.tag in ("body", "html"):
            return False
        attributes = current.attributes
        if "hidden" in attributes or _HIDDEN_STYLE.search(attributes.get("style") or ""):
            return True
        if _HIDDEN_CLASS.search(attributes.get("class") or ""):
            return True
        current = current.parent
    return False


def _is_logo(node: LexborNode, *, url: str) -> bool:
    """Tell whether a heading is the site's logo: named "logo", holding a logo image, or linking home."""
    if "logo" in attribute_words(node).lower():
        return True
    for image in node.css("img"):
        if "logo" in (attribute_words(image) + " " + (image.attributes.get("src") or "")).lower():
            return True
    for anchor in node.css("a[href]"):
        target = absolute_url(anchor.attributes.get("href"), url)
        if target is not None and urlsplit(target).path in ("", "/") and not urlsplit(target).query:
            return True
    return False


def _mostly_links(node: LexborNode, *, text: str, url: str) -> bool:
    """Tell whether most of a heading's text links elsewhere: a breadcrumb, a tab or a category name.

    A link to the page itself (some shops link the product name to its own
    URL) does not count.
    """
    own = url.split("#")[0].rstrip("/")
    linked = 0
    for anchor in node.css("a"):
        target = absolute_url(anchor.attributes.get("href"), url)
        if target is not None and target.split("#")[0].rstrip("/") == own:
            continue
        linked += len(clean_text(anchor.text(deep=True, separator=" ")) or "")
    return linked * 2 > len(text)


def _names_site(text: str, *, url: str, meta: dict[str, list[str]]) -> bool:
    """Tell whether a heading names the site or a listing: host, og:site_name, greeting, page number."""
    lowered = text.casefold()
    host = (urlsplit(url).hostname or "").lower()
    if host and host in lowered:
        return True
    # "Baldur Garten" on baldur-garten.ch: the heading spells the domain's name.
    if _letters(text) == _letters(site_key(url).split(".")[0]):
        return True
    site_names = [clean_text(value) for value in meta.get("og:site_name", [])]
    if any(name is not None and name.casefold() == lowered for name in site_names):
        return True
    return bool(_GENERIC_HEADING.search(text))


def _letters(text: str) -> str:
    return "".join(character for character in text.casefold() if character.isalnum())


def _inside_any(node: LexborNode, ids: set[int]) -> bool:
    """Tell whether `node` is one of the elements in `ids` or sits inside one."""
    current: LexborNode | None = node
    while current is not None and current.tag not in ("html", None):
        if current.mem_id in ids:
            return True
        current = current.parent
    return False


def _count_buy_boxes(page: Page, card_ids: set[int]) -> int:
    """Count buy elements outside chrome and product cards, an element nested in another counting once."""
    matched = [
        node
        for node in page.select(_BUY_SELECTOR)
        if not page.in_chrome(node) and not _inside_any(node, card_ids)
    ]
    identities = {node.mem_id for node in matched}
    count = 0
    for node in matched:
        parent = node.parent
        while parent is not None and parent.mem_id not in identities:
            parent = parent.parent
        if parent is None:
            count += 1
    return count


def _price_outside_cards(page: Page, heading: LexborNode, card_ids: set[int]) -> LexborNode | None:
    """Return the first price element in the heading's main content block, outside chrome and cards.

    On a page that marks its main content (`<main>`, `role=main`) and puts
    the heading there, a price elsewhere belongs to something else.
    """
    main = page.tree.css_first("main, [role=main]")
    main_ids = {main.mem_id} if main is not None and _inside_any(heading, {main.mem_id}) else set()
    for price in page.select(_PRICE_SELECTOR)[:_MAX_PRICES_CHECKED]:
        if page.in_chrome(price) or _inside_any(price, card_ids):
            continue
        if main_ids and not _inside_any(price, main_ids):
            continue
        # An empty mini-cart shows "0,00" in a price element.
        if not _NON_ZERO_DIGIT.search(price.text(deep=True) or price.attributes.get("content") or ""):
            continue
        return price
    return None

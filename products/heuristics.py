"""Product fields read from the visible page where structured data is missing or incomplete.

Each rule reads what the rendered page displays: the main heading, the price shown next
to it, the buy button or a sold-out notice, and labelled rows such as
"Product code: 83050303" or "Brand | Bosch".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import repeat
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborNode

from product_extractor.products.availability import availability_from_text, normalize_availability
from product_extractor.products.draft import Draft
from product_extractor.products.model import Availability
from product_extractor.products.page import Page, SelectorList, attribute_words, join_attribute_words
from product_extractor.products.prices import currency_to_iso, parse_price
from product_extractor.products.text import (
    CaselessPattern,
    absolute_url,
    clean_text,
    digits_only,
    is_placeholder_image,
)

__all__ = [
    "ShownPrices",
    "heuristic_draft",
    "labelled_values",
    "main_heading",
    "shown_prices",
    "title_heading",
    "visible_price",
]

_HIDDEN_CLASSES = re.compile(r"hdn|hidden|sr-only|visually-?hidden|offleft|screen-?reader", re.IGNORECASE)

# --- name ---------------------------------------------------------------------

_HEADING_SELECTORS = tuple(
    SelectorList.parse(selector)
    for selector in (
        "#productTitle",
        "h1",
        "[itemprop=name]",
        "[id*=productTitle]",
        "[class*=product-title]",
        "[class*=product-name]",
        "[class*=productName]",
        "[class*=deal_title]",
        "h2[class*=title]",
    )
)


def main_heading(page: Page, meta: dict[str, list[str]] | None = None) -> LexborNode | None:
    """Return the element naming the product: the first h1 outside page chrome, else a title-like one.

    With `meta`, a page with none of those falls back to the element showing
    the product part of `<title>` (see `title_heading`).
    """
    for selector in _HEADING_SELECTORS:
        for node in page.select(selector):
            if node.tag in ("meta", "link", "a") or page.in_chrome(node):
                continue
            text = clean_text(node.text(deep=True, separator=" "))
            if text is not None and 3 <= len(text) <= 300:
                return node
    return None if meta is None else title_heading(page, meta)


# Separators between the parts of a `<title>`: "Blue Mug - Acme Shop", "Acme | Blue Mug".
_TITLE_SEPARATOR = re.compile(r"\s+[-|–—:·•»]+\s+")

# Tags whose text is never the product's heading.
_NOT_HEADING_TAGS = ("title", "script", "style", "option", "a", "button", "label", "meta")


def title_heading(page: Page, meta: dict[str, list[str]]) -> LexborNode | None:
    """Return the element whose whole text is the product part of `<title>`, for pages without an h1.

    The product part is what remains of the title once the parts naming the
    site (`og:site_name`) are removed. The first element outside page chrome
    that shows exactly that text wins.
    """
    title = page.tree.css_first("title")
    text = clean_text(title.text(deep=True, separator=" ")) if title is not None else None
    if text is None:
        return None
    site_names = {name.casefold() for value in meta.get("og:site_name", []) if (name := clean_text(value))}
    parts = [part for part in _TITLE_SEPARATOR.split(text) if part.casefold() not in site_names]
    if len(parts) != 1 or len(parts[0]) < 3:
        return None

    body = page.tree.body
    if body is None:
        return None
    wanted = parts[0]
    for text_node in body.traverse(include_text=True, skip_empty=True):
        if text_node.tag != "-text" or clean_text(text_node.text_content) != wanted:
            continue
        parent = text_node.parent
        if parent is None or parent.tag in _NOT_HEADING_TAGS or page.in_chrome(parent):
            continue
        if clean_text(parent.text(deep=True, separator=" ")) == wanted:
            return parent
    return None


def _heading_text(node: LexborNode) -> str | None:
    """Return a heading's visible text without hidden spans ("Details about") and code labels ("Code: 1")."""
    parts: list[str] = []
    for child in node.traverse(include_text=True):
        if child.tag != "-text":
            continue
        if _is_hidden_or_label(child, node):
            continue
        parts.append(child.text_content or "")
    return clean_text(" ".join(parts))


def _is_hidden_or_label(text_node: LexborNode, stop: LexborNode) -> bool:
    parent = text_node.parent
    while parent is not None and parent.mem_id != stop.mem_id:
        if _HIDDEN_CLASSES.search(parent.attributes.get("class") or ""):
            return True
        words = attribute_words(parent).lower()
        if "sku" in words or "article" in words or "catnumber" in words or "code" in words:
            return True
        parent = parent.parent
    return False


# --- price --------------------------------------------------------------------

_PRICE_WORDS = CaselessPattern(
    re.compile(r"price|prc|preis|prix|prezzo|precio|cena|цена|fiyat|amount", re.IGNORECASE)
)

# Class or id words of a price other than the one you pay now.
_OTHER_PRICE_WORDS = CaselessPattern(
    re.compile(
        r"old|was|strike|regular|list|compare|before|orig|rrp|msrp|sav(?:e|ing)|discount|ppu|per-?unit|unit-?price"
        r"|tax|vat|bonus|count|coupon|member|instal|month|shipping|delivery|credit|loan|bsm|range|from|\bmin|\bmax"
        r"|crossed|previous|prev|reduction|percent|label|title|currency|symbol|decimal|fraction|whole|subscription"
        r"|sns-|mbc-|tier|total|opt_|option|sum",
        re.IGNORECASE,
    )
)

# Class or id words of the price you pay now, used to break ties between nearby candidates.
_CURRENT_PRICE_WORDS = CaselessPattern(
    re.compile(
        r"ourprice|our-price|sale|new|current|final|special|now|actual|offer|deal|buy|sell|std|main|big|bidprice",
        re.IGNORECASE,
    )
)

_AMOUNT = re.compile(r"\d[\d.,\s\u00a0']*")

# Class or id words of a crossed-out price: the list price a discount replaces.
# They win over `_CURRENT_PRICE_WORDS`, because shops style both kinds alike
# ("original-price current-price") and the old-price word is the specific one.
_OLD_PRICE_WORDS = CaselessPattern(
    re.compile(
        r"old-?price|was-?price|price-?was|original|strike|barred|crossed|regular-?price|list-?price|full-?price"
        r"|price-?before|previous-?price|rrp|msrp",
        re.IGNORECASE,
    )
)

# Substrings that every match of `_PRICE_WORDS` or `_OLD_PRICE_WORDS` contains, lower-cased.
# NOTE: keep in sync with those two patterns.
_ANY_PRICE_SUBSTRINGS = (
    "price", "prc", "preis", "prix", "prezzo", "precio", "cena", "цена", "fiyat", "amount",
    "original", "strike", "barred", "crossed", "rrp", "msrp",
)  # fmt: skip

# Attributes that `attribute_words` joins. NOTE: keep in sync with products/page.py.
_WORD_ATTRIBUTES = ("id", "class", "itemprop", "data-qa", "data-qa-qualifier", "data-test", "data-testid")


def _price_named(page: Page) -> list[tuple[LexborNode, dict[str, str | None]]]:
    """Return the attributed elements whose attribute words, lower-cased, contain a price substring.

    The result equals testing `attribute_words(node).lower()` of each element
    against `_ANY_PRICE_SUBSTRINGS`. Scanning the distinct values of each
    attribute at once is several times faster on pages with thousands of
    elements. The values are joined into one string, separated by NUL, which
    the HTML parser never leaves in an attribute value.
    """
    attributes_list = [attributes for _, attributes in page.attributed]
    hits: set[int] = set()
    for key in _WORD_ATTRIBUTES:
        values = list(map(dict.get, attributes_list, repeat(key)))
        # Pages repeat class values on many elements, so each distinct value is searched once,
        # and then every element with a value that contains a price substring is a hit.
        distinct = list({value for value in values if value})
        if not distinct:
            continue
        text = "\0".join(distinct).lower()
        positions: list[int] = []
        for word in _ANY_PRICE_SUBSTRINGS:
            position = text.find(word)
            while position >= 0:
                positions.append(position)
                position = text.find(word, position + 1)
        # The number of separators before a position is the index of the value it belongs to.
        named: set[str] = set()
        index = 0
        previous = 0
        for position in sorted(positions):
            index += text.count("\0", previous, position)
            previous = position
            named.add(distinct[index])
        if named:
            hits.update(index for index, value in enumerate(values) if value in named)

    return [page.attributed[index] for index in sorted(hits)]


# How many candidates nearest the heading compete on class words.
_NEAREST_PRICES = 3


def _is_other_amount(node: LexborNode) -> bool:
    """Tell whether an element's class words mark an amount that is not the price to pay."""
    words = attribute_words(node)
    return bool(_OLD_PRICE_WORDS.search(words) or _OTHER_PRICE_WORDS.search(_PRICE_WORDS.sub(" ", words)))


def _text_without_other_amounts(node: LexborNode) -> str | None:
    """Return an element's text without its descendants marked as old prices, counts or savings."""
    parts: list[str] = []
    # `_is_other_amount` of each element passed, by mem_id, because the text
    # nodes of one element climb through the same ancestors.
    other: dict[int, bool] = {}
    for child in node.traverse(include_text=True):
        if child.tag != "-text":
            continue
        parent = child.parent
        while parent is not None and parent.mem_id != node.mem_id:
            is_other = other.get(parent.mem_id)
            if is_other is None:
                is_other = other[parent.mem_id] = _is_other_amount(parent)
            if is_other:
                break
            parent = parent.parent
        if parent is not None and parent.mem_id == node.mem_id:
            parts.append(child.text_content or "")
    return clean_text(" ".join(parts))


def _price_of(node: LexborNode, country: str) -> tuple[Decimal, str | None] | None:
    if node.tag == "meta":
        text = node.attributes.get("content")
    else:
        text = clean_text(node.text(deep=True, separator=" "))
    if text is None or len(text) > 40:
        return None
    # A wrapper around an old and a new price contains two amounts, so only its children compete,
    # unless the other amounts sit in parts marked as something else (a purchase count, a saving).
    if len(_AMOUNT.findall(text)) != 1:
        text = _text_without_other_amounts(node)
        if text is None or len(_AMOUNT.findall(text)) != 1:
            return None
    parsed = parse_price(text, country=country)
    if parsed.amount is None or parsed.amount <= 0:
        return None
    return parsed.amount, parsed.currency


@dataclass(slots=True)
class ShownPrices:
    """The prices a product page shows: the one you pay now, and the crossed-out ones it replaces."""

    current: tuple[Decimal, str | None] | None
    old_amounts: set[Decimal]


def shown_prices(page: Page, heading: LexborNode | None, country: str) -> ShownPrices:
    """Find the price shown for the main product, the current-price element nearest after the heading.

    Candidates are elements whose class, id or itemprop names a price and
    whose text is one short amount. Old, per-unit, instalment and tax prices
    are skipped by their class words, and so is everything in page chrome
    (recommendation strips included). Shops put the price right after the
    name, so distance from the heading in document order ranks the rest.
    The amounts of old prices ("was", "original", struck out) are collected
    on the way, so the caller can tell a structured-data list price from the
    discounted price the page displays.
    """
    heading_position = page.position(heading) if heading is not None else 0
    ranked: list[tuple[int, int, Decimal, str | None]] = []
    old_amounts: set[Decimal] = set()
    # A search for the substrings every price word contains rejects the many
    # elements that name no price at all, before the case-insensitive regular
    # expressions below.
    for node, attributes in _price_named(page):
        words = join_attribute_words(attributes)
        if node.tag in ("option", "select", "a", "button", "input", "script", "style", "img", "meta"):
            continue
        if not _PRICE_WORDS.search(words):
            if _OLD_PRICE_WORDS.search(words) and not page.in_chrome(node.parent or node):
                old = _price_of(node, country)
                if old is not None:
                    old_amounts.add(old[0])
            continue
        if _OLD_PRICE_WORDS.search(words):
            # The chrome check comes first here and below, because it is cached and reading a price is not.
            old = None if page.in_chrome(node.parent or node) else _price_of(node, country)
            if old is not None:
                old_amounts.add(old[0])
            continue
        is_current = bool(_CURRENT_PRICE_WORDS.search(words))
        if not is_current and _OTHER_PRICE_WORDS.search(_PRICE_WORDS.sub(" ", words)):
            continue
        price = None if page.in_chrome(node) else _price_of(node, country)
        if price is None:
            continue

        position = page.position(node)
        after = position >= heading_position
        distance = position - heading_position if after else 1_000_000 + heading_position - position
        # NOTE: an element enters once for each of class, id and itemprop it has, so one
        # element may fill several of the `_NEAREST_PRICES` places. The CSS selector list
        # this loop replaced did that, and the corpus scores were set with it.
        for _ in range(sum(key in attributes for key in ("class", "id", "itemprop"))):
            ranked.append((distance, 0 if is_current else 1, *price))

    if not ranked:
        return ShownPrices(None, old_amounts)
    ranked.sort(key=lambda entry: entry[0])
    nearest = sorted(ranked[:_NEAREST_PRICES], key=lambda entry: (entry[1], entry[0]))
    _, _, amount, currency = nearest[0]
    return ShownPrices((amount, currency), old_amounts)


def visible_price(page: Page, heading: LexborNode | None, country: str) -> tuple[Decimal, str | None] | None:
    """Return the amount and ISO currency of the price shown for the main product, or None."""
    return shown_prices(page, heading, country).current


# --- labelled spec rows -------------------------------------------------------

# Labels of spec rows in the languages of the shops seen so far, by the field they name.
_FIELD_LABELS: dict[str, str] = {
    "sku": (
        r"sku|product code|product no\.?|product number|item code|item no\.?|item number|item #"
        r"|ebay item number"
        r"|asin|article number|art\.? ?-?nr\.?|artikelnummer|artikel-nr\.?|bestellnummer|best\.-nr\.?|réf\.?"
        r"|référence|reference|ref\.?|code produit|code article|codice articolo|codice prodotto"
        r"|cod\.? articolo"
        r"|código|código del producto|referencia|cod\.? produs|cod produs|kod produktu|kód produktu|kód"
        r"|šifra|šifra artikla|šifra proizvoda|код|код товара|артикул|商品編號|商品代號|상품번호"
        r"|catalogue number"
        r"|cat\.? no\.?|numer katalogowy|product id|item id|catalog number|katalognummer"
    ),
    "mpn": (
        r"mpn|manufacturer part number|part number|model number|item model number|model no\.?|modell-?nr\.?"
        r"|herstellernummer|hersteller-?artikelnummer|part no\.?|numéro du modèle(?: de l'article)?"
        r"|numero modello(?: articolo)?|número de modelo(?: del producto)?|modellnummer|modelnummer"
    ),
    "brand": (
        r"brand|marca|marke|marque|marchio|merk|značka|marka|бренд|品牌|브랜드|manufacturer|hersteller|fabricant"
        r"|produttore|fabricante|производитель|proizvođač|výrobce|výrobca|producent"
    ),
    "gtin": r"ean|ean-13|ean13|upc|gtin|isbn-13|isbn13|isbn|barcode|código de barras|ean-code|ean code",
}
_LABEL_ONLY = {
    field: re.compile(rf"^\s*(?:{labels})\s*[:#.：]?\s*$", re.IGNORECASE)
    for field, labels in _FIELD_LABELS.items()
}
_LABEL_AND_VALUE = {
    field: re.compile(rf"^\s*(?:{labels})\s*[:#：]\s*(\S.{{0,60}}?)\s*$", re.IGNORECASE)
    for field, labels in _FIELD_LABELS.items()
}


def _group_by_first_letter(alternatives: list[str]) -> str:
    """Return the alternation of `alternatives`, with those that start with the same letter grouped together.

    Python's `re` tries an alternation's branches one by one, so grouping
    "sku|sifra|ean" as "(?:s(?:ku|ifra)|e(?:an))" turns about a hundred
    attempts per text into a few dozen. Each alternative must start with a
    letter that no quantifier follows, so that the letter can be moved out.
    """
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        if len(alternative) < 2 or not alternative[0].isalpha() or alternative[1] in "?*+{":
            raise ValueError(
                f"Invalid label pattern {alternative!r}: start it with a letter not followed by a quantifier."
            )
        re.compile(alternative)  # raises re.error where a group's own "|" split it in two
        groups.setdefault(alternative[0], []).append(alternative[1:])
    return "(?:" + "|".join(f"{letter}(?:{'|'.join(rests)})" for letter, rests in groups.items()) + ")"


# Matches the start of every text that one of the patterns above matches, so
# that most text nodes are rejected with one match instead of eight.
_ALL_LABELS = [label for labels in _FIELD_LABELS.values() for label in labels.split("|")]
_ANY_LABEL_START = re.compile(r"\s*" + _group_by_first_letter(_ALL_LABELS), re.IGNORECASE)
_LABEL_TEXT_MAX = 90


def _next_text(node: LexborNode, limit: int = 6) -> str | None:
    """Return the first non-empty text after `node` in document order, at most `limit` text nodes ahead."""
    current: LexborNode | None = node
    seen = 0
    while current is not None and seen < limit:
        if current.next is not None:
            current = current.next
        else:
            parent = current.parent
            while parent is not None and parent.next is None:
                parent = parent.parent
            current = parent.next if parent is not None else None
            if current is None:
                return None

        texts = (
            [current]
            if current.tag == "-text"
            else [n for n in current.traverse(include_text=True) if n.tag == "-text"]
        )
        for text_node in texts:
            text = clean_text(text_node.text_content)
            seen += 1
            if text is not None and text not in (":", "#", "-"):
                return text.lstrip(": ").strip() or None
            if seen >= limit:
                return None
    return None


def labelled_values(page: Page) -> dict[str, str]:
    """Collect sku, mpn, brand and gtin from labelled text: "SKU: 123", <th>Brand</th><td>X</td>, <dt>/<dd>.

    Works on text nodes, so a label and its value may sit in any two elements
    that follow each other. The first value for each field wins, in document
    order, outside page chrome.
    """
    found: dict[str, str] = {}
    body = page.tree.body
    if body is None:
        return found

    # Whitespace-only text nodes, skipped by the traversal, never hold a label.
    for text_node in body.traverse(include_text=True, skip_empty=True):
        if text_node.tag != "-text":
            continue
        text = text_node.text_content
        if not text or len(text) > _LABEL_TEXT_MAX:
            continue
        text = text.replace("\u200e", "").replace("\u200f", "").strip()
        if not text or len(text) < 3:
            continue
        if not _ANY_LABEL_START.match(text):
            continue
        parent = text_node.parent
        if parent is None or parent.tag in ("script", "style", "option", "a", "title"):
            continue

        for field, pattern in _LABEL_AND_VALUE.items():
            if field in found:
                continue
            match = pattern.match(text)
            value = match.group(1) if match else None
            if value is None and _LABEL_ONLY[field].match(text):
                value = _next_text(text_node)
            if value is None:
                continue
            value = value.strip(" :#")
            if not value or len(value) > 60 or page.in_chrome(parent):
                continue
            found[field] = value
            break
    return found


# Elements whose class, id or itemprop names the shop's product code, shown without a label.
_CODE_SELECTOR = SelectorList.parse(
    "[itemprop=sku], [itemprop=productID], [class*=product-code], [class*=productCode], [class*=prd-code],"
    " [class*=product-reference], [data-qa-qualifier*=reference], [class*=product-sku], [class*=sku-number],"
    " [class*=article-number], [class*=product-id], [id*=product-sku], [id*=productSku], input#ASIN"
)
_CODE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9./_-]{2,39}")


def _attribute_code(page: Page) -> str | None:
    """Read the product code from an element named for it ("product-reference", "prd-code", input#ASIN)."""
    for node in page.select(_CODE_SELECTOR):
        if page.in_chrome(node):
            continue
        raw = (
            node.attributes.get("value")
            if node.tag == "input"
            else clean_text(node.text(deep=True, separator=" "))
        )
        if not raw:
            continue
        # "Product code: 141677" and "Ref. 0210/088": the last token is the code.
        candidate = raw.split()[-1].strip(" :#")
        if _CODE_VALUE.fullmatch(candidate) and any(ch.isdigit() for ch in candidate):
            return candidate
    return None


# Query parameters and path shapes that carry a shop's product id.
_ID_PARAMETERS = ("pid", "productid", "product_id", "itemid", "item_id", "id", "sku", "prod")
_PATH_ID = re.compile(r"(?:^|[/_-])(\d{5,})(?:\.html?|\.aspx)?/?$")


def sku_from_url(url: str) -> str | None:
    """Return the numeric product id a product URL carries (…/Prod/101693/, …-1609583.html, ?pid=260591).

    >>> sku_from_url("https://www.gomaji.com/store/122725?pid=260591")
    '260591'
    >>> sku_from_url("https://dom.1k.by/pots/taller/TalleR_TR_1047-1609583.html")
    '1609583'
    """
    parts = urlsplit(url)
    query = {key.lower(): values for key, values in parse_qs(parts.query).items()}
    for key in _ID_PARAMETERS:
        for value in query.get(key, []):
            if value.isdigit() and len(value) >= 5:
                return value
    match = _PATH_ID.search(parts.path)
    return match.group(1) if match else None


# --- brand --------------------------------------------------------------------

_BYLINE_PREFIX = re.compile(
    r"^(?:brand|marca|marke|marque|marchio|merk)\s*:\s*"
    r"|^(?:visit the|visiter la boutique|visita lo store di|besuchen sie den|visita la tienda de|visit)\s+",
    re.IGNORECASE,
)
_BYLINE_SUFFIX = re.compile(r"[-\s]*(?:store|boutique|shop)$", re.IGNORECASE)


_BYLINE_SELECTOR = SelectorList.parse(
    "#bylineInfo, [class*=brand-name], [class*=brandName], [itemprop=brand]"
)


def _byline_brand(page: Page) -> str | None:
    """Read the brand from a byline ("Visit the Tefal Store", "Marque : AMH") or a brand-name element.

    Author bylines ("by Mat Follas (Author)") are skipped: a book's author is not its brand.
    """
    for node in page.select(_BYLINE_SELECTOR):
        if page.in_chrome(node) or node.tag == "meta":
            continue
        text = clean_text(node.text(deep=True, separator=" "))
        if text is None or "(" in text or len(text) > 80:
            continue
        name = _BYLINE_SUFFIX.sub("", _BYLINE_PREFIX.sub("", text)).strip()
        is_byline = node.attributes.get("id") == "bylineInfo"
        if is_byline and name == text:
            continue
        if name:
            return name
    return None


# --- availability -------------------------------------------------------------

_STOCK_SELECTOR = SelectorList.parse(
    "[itemprop=availability], #availability, [class*=availability i], [id*=availability i], [class*=stock i],"
    " [id*=stock i], [class*=sold-out i], [class*=soldout i]"
)
_BUY_SELECTOR = SelectorList.parse(
    "button, input[type=submit], input[type=button], [id*=add-to-cart i], [class*=add-to-cart i],"
    " [id*=addtocart i], [class*=addtocart i], [id*=add-to-basket i], [class*=add-to-basket i],"
    " [id*=buy-now i], [class*=buy-now i], [id*=buynow i], [class*=buynow i]"
)


_ADD_TO_CART_CLASS = re.compile(r"add-?to-?(?:cart|bag|basket)", re.IGNORECASE)


def _stock_notice(page: Page) -> Availability | None:
    """Read availability from a stock notice or an availability property, outside page chrome."""
    for node in page.select(_STOCK_SELECTOR):
        if page.in_chrome(node):
            continue
        if node.tag in ("link", "meta"):
            value = normalize_availability(node.attributes.get("href") or node.attributes.get("content"))
            if value is not None:
                return value
            continue
        text = clean_text(node.text(deep=True, separator=" "))
        if text is not None and len(text) < 160:
            guess = availability_from_text(text)
            if guess is not None:
                return guess
    return None


def _buy_button(page: Page) -> Availability | None:
    """Read availability from the first buy button outside page chrome: a disabled one means out of stock.

    A button whose class names it an add-to-cart button counts whatever its
    label says ("Add", an icon), because the class is the shop's own word for it.
    """
    for node in page.select(_BUY_SELECTOR):
        if page.in_chrome(node):
            continue
        text = clean_text(node.text(deep=True, separator=" ")) or clean_text(node.attributes.get("value"))
        if text is None or len(text) > 40:
            continue
        guess = availability_from_text(text)
        if guess is None and node.tag == "button" and _ADD_TO_CART_CLASS.search(attribute_words(node)):
            guess = "InStock"
        if guess is None:
            continue
        disabled = "disabled" in node.attributes
        return "OutOfStock" if disabled and guess == "InStock" else guess
    return None


def visible_availability(page: Page) -> Availability | None:
    """Read availability from a stock notice, else from a buy button, outside page chrome."""
    return _stock_notice(page) or _buy_button(page)


# --- images -------------------------------------------------------------------

_IMAGE_SELECTOR = SelectorList.parse(
    "#landingImage, #imgBlkFront, #icImg, #main-image, #mainImage, img[itemprop=image],"
    " [class*=main-image] img,"
    " img[class*=main-image], img[class*=mainImage], img[id*=main-image], [class*=gallery] img,"
    " [class*=product-image] img, [class*=productImage] img, [class*=product-media] img,"
    " #photo img, img#photo"
)
_IMAGE_ATTRIBUTES = ("src", "data-src", "data-old-hires", "data-zoom-image", "data-large")


def _gallery_images(page: Page, base: str) -> list[str]:
    """Collect gallery images in page order, outside page chrome: the displayed `src` first."""
    images: list[str] = []
    for node in page.select(_IMAGE_SELECTOR):
        if page.in_chrome(node):
            continue
        for attribute in _IMAGE_ATTRIBUTES:
            value = node.attributes.get(attribute)
            url = absolute_url(value, base)
            # A spinner or a 1x1 pixel in `src` means the real image waits in a data-* attribute.
            if url is None or is_placeholder_image(url):
                continue
            if url not in images:
                images.append(url)
            break
    return images


# --- the draft ----------------------------------------------------------------


def heuristic_draft(
    page: Page,
    meta: dict[str, list[str]],
    *,
    url: str,
    base: str,
    country: str,
    heading: LexborNode | None = None,
) -> Draft:
    """Build a draft from the visible page: heading, shown price, stock notice, labelled rows and images.

    `heading` is the element naming the product when the caller has found
    it; without it, the first title-like element (`main_heading`) is used.
    """
    draft = Draft(method="heuristic")

    if heading is None:
        heading = main_heading(page, meta)
    if heading is not None:
        draft.name = _heading_text(heading)
        if draft.name is not None and heading.tag == "h1":
            draft.visible_fields.add("name")
    if draft.name is None:
        titles = meta.get("og:title") or meta.get("twitter:title") or []
        draft.name = clean_text(titles[0]) if titles else None

    prices = shown_prices(page, heading, country)
    draft.old_prices = prices.old_amounts
    if prices.current is not None:
        draft.price, draft.currency = prices.current
    if draft.price is not None and draft.currency is None:
        for key in ("product:price:currency", "og:price:currency", "pricecurrency"):
            if meta.get(key):
                draft.currency = currency_to_iso(meta[key][0], country=country)
                break

    notice = _stock_notice(page)
    draft.availability = notice or _buy_button(page)
    # An enabled buy button with no stock notice beside it is what the shopper
    # acts on, so it overrides structured data that says out of stock (shops'
    # markup often lags behind restocking).
    if notice is None and draft.availability == "InStock":
        draft.visible_fields.add("availability")

    labelled = labelled_values(page)
    draft.sku = _attribute_code(page) or labelled.get("sku")
    if draft.sku is not None:
        draft.visible_fields.add("sku")
    draft.mpn = labelled.get("mpn")
    draft.brand = labelled.get("brand") or _byline_brand(page)
    gtin = digits_only(labelled.get("gtin"))
    draft.gtin = gtin if gtin is not None and len(gtin) in (8, 12, 13, 14) else None

    canonical = page.tree.css_first("link[rel=canonical]")
    canonical_url = absolute_url(canonical.attributes.get("href"), base) if canonical is not None else None
    draft.url = canonical_url
    if draft.sku is None:
        draft.sku = sku_from_url(canonical_url or url)

    descriptions = meta.get("og:description") or meta.get("description") or []
    draft.description = clean_text(descriptions[0]) if descriptions else None

    draft.images = _gallery_images(page, base)
    if draft.images:
        draft.visible_fields.add("images")
    for value in meta.get("og:image", []):
        image = absolute_url(value, base)
        if image is not None and image not in draft.images and not is_placeholder_image(image):
            draft.images.append(image)
    return draft

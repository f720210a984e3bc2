"""Availability values and visible stock text to schema.org ItemAvailability names."""

from __future__ import annotations

import re
from typing import get_args

from product_extractor.products.model import Availability

__all__ = ["availability_from_text", "normalize_availability"]

_SCHEMA_NAMES: dict[str, Availability] = {name.lower(): name for name in get_args(Availability)}

# Structured-data spellings that are not schema.org names (Shopify, Magento,
# OpenGraph's product:availability, Google Merchant feeds).
_ALIASES: dict[str, Availability] = {
    "in stock": "InStock",
    "in_stock": "InStock",
    "instock": "InStock",
    "available": "InStock",
    "available for order": "InStock",
    "true": "InStock",
    "1": "InStock",
    "yes": "InStock",
    "out of stock": "OutOfStock",
    "out_of_stock": "OutOfStock",
    "oos": "OutOfStock",
    "unavailable": "OutOfStock",
    "not available": "OutOfStock",
    "false": "OutOfStock",
    "0": "OutOfStock",
    "sold out": "SoldOut",
    "preorder": "PreOrder",
    "pre-order": "PreOrder",
    "pre order": "PreOrder",
    "backorder": "BackOrder",
    "discontinued": "Discontinued",
    "limited availability": "LimitedAvailability",
}


def normalize_availability(value: object) -> Availability | None:
    """Map a structured-data availability ("http://schema.org/InStock", "in stock") to its schema.org name.

    >>> normalize_availability("https://schema.org/OutOfStock")
    'OutOfStock'
    >>> normalize_availability("instock")
    'InStock'
    """
    if not isinstance(value, str | bool | int):
        return None
    text = str(value).strip().lower()
    if not text:
        return None

    # The last path segment of a URL form (http://schema.org/InStock,
    # https://schema.org/InStock, schema.org/InStock) or a CURIE (schema:InStock).
    tail = re.split(r"[/:#]", text)[-1]
    for candidate in (tail, text):
        if candidate in _SCHEMA_NAMES:
            return _SCHEMA_NAMES[candidate]
        if candidate in _ALIASES:
            return _ALIASES[candidate]
    return None


# Visible phrases that say an item cannot be bought now, in the languages of the
# shops we have seen. Checked before the in-stock phrases because a sold-out
# page often keeps a disabled "Add to cart" button.
_OUT_OF_STOCK = re.compile(
    r"out of stock|sold out|currently unavailable|no longer available|not available|temporarily unavailable"
    r"|notify me when|email me when available|non disponibile|esaurit[oa]|non disponible|rupture de stock"
    r"|indisponible|épuisé|ausverkauft|nicht verfügbar|nicht lieferbar|derzeit nicht|agotado"
    r"|sin stock|no disponible"
    r"|esgotado|indisponível|niet op voorraad|uitverkocht|brak w magazynie|niedostępny|nedostupn|vypredan"
    r"|нет в наличии|закончился|недоступ|품절|售完|缺貨|已售完|lagerhinweis: nicht|stoc epuizat"
    r"|nu este in stoc"
    r"|rasprodan|nije dostupn|razprodan|ni na zalogi|nav pieejams|izpārdots|אזל מהמלאי",
    re.IGNORECASE,
)

_IN_STOCK = re.compile(
    r"in stock|add to (?:your |my )?(?:cart|bag|basket|trolley)|buy now|add to shopping|available to ship"
    r"|available for delivery"
    r"|disponibile|aggiungi al carrello|en stock|ajouter au panier|auf lager|in den warenkorb"
    r"|lieferbar|sofort"
    r"|añadir al carrito|comprar|en existencia|disponible|op voorraad|in winkelwagen"
    r"|dodaj do koszyka|dostępny"
    r"|na sklade|do košíka|в наличии|в корзину|купить|장바구니|구매하기|加入購物車|立即購買|adaugă în coş"
    r"|în stoc"
    r"|na zalogi|v košarico|dodaj u košaricu|na stanju|pievienot grozam|ir noliktavā|הוסף לסל"
    r"|добавить в корзину",
    re.IGNORECASE,
)


def availability_from_text(text: str) -> Availability | None:
    """Guess availability from visible text: an out-of-stock phrase wins over a buy button."""
    if _OUT_OF_STOCK.search(text):
        return "OutOfStock"
    if _IN_STOCK.search(text):
        return "InStock"
    return None

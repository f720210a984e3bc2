"""Price strings to a Decimal amount and an ISO 4217 currency code.

price-parser finds the amount and the currency text in a string. This module
maps that text (a symbol such as `zł`, `R$` or `kr`, or a code) to ISO 4217,
using the page's country to settle symbols that several currencies share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from price_parser import Price

__all__ = [
    "ParsedPrice",
    "currency_to_iso",
    "minor_unit_digits",
    "normalize_amount",
    "parse_amount",
    "parse_price",
    "site_country",
]


@dataclass(frozen=True, slots=True)
class ParsedPrice:
    """A price as found in a string: the amount, the currency text as printed, and its ISO code."""

    amount: Decimal | None
    currency_text: str | None
    currency: str | None


# ISO 4217 codes that shops print as-is ("EUR 12,99", "12.00 USD"). Not every
# code in the standard: three capital letters are too common in product names
# (SKU prefixes, sizes) to accept an unknown one.
ISO_CODES = frozenset(
    [
        "AED",
        "ARS",
        "AUD",
        "BAM",
        "BDT",
        "BGN",
        "BHD",
        "BRL",
        "BYN",
        "CAD",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CZK",
        "DKK",
        "DZD",
        "EGP",
        "EUR",
        "GBP",
        "GEL",
        "HKD",
        "HRK",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KRW",
        "KWD",
        "KZT",
        "LBP",
        "LKR",
        "MAD",
        "MDL",
        "MKD",
        "MXN",
        "MYR",
        "NGN",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PEN",
        "PHP",
        "PKR",
        "PLN",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TND",
        "TRY",
        "TWD",
        "UAH",
        "USD",
        "UYU",
        "UZS",
        "VND",
        "ZAR",
    ]
)

# Currency text that names one currency wherever it appears, lower-cased.
# NOTE: keep in sync with SHARED_SYMBOLS below, because a symbol belongs in one table only.
UNAMBIGUOUS_SYMBOLS: dict[str, str] = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "us$": "USD",
    "usd": "USD",
    "u$s": "USD",
    "c$": "CAD",
    "ca$": "CAD",
    "cdn$": "CAD",
    "a$": "AUD",
    "au$": "AUD",
    "nz$": "NZD",
    "hk$": "HKD",
    "s$": "SGD",
    "nt$": "TWD",
    "mx$": "MXN",
    "r$": "BRL",
    "zł": "PLN",
    "zl": "PLN",
    "pln": "PLN",
    "₹": "INR",
    "ر.س": "SAR",
    "ر.س.": "SAR",
    "﷼": "SAR",
    "د.إ": "AED",
    "₩": "KRW",
    "원": "KRW",
    "원~": "KRW",
    "kč": "CZK",
    "kc": "CZK",
    "lei": "RON",
    "₸": "KZT",
    "тг": "KZT",
    "тг.": "KZT",
    "тенге": "KZT",
    "₪": "ILS",
    "ש״ח": "ILS",
    'ש"ח': "ILS",
    "₽": "RUB",
    "руб": "RUB",
    "руб.": "RUB",
    "р.": "RUB",
    "₴": "UAH",
    "грн": "UAH",
    "грн.": "UAH",
    "ft": "HUF",
    "kn": "HRK",
    "лв": "BGN",
    "лв.": "BGN",
    "rm": "MYR",
    "฿": "THB",
    "₫": "VND",
    "đ": "VND",
    "₱": "PHP",
    "₺": "TRY",
    "tl": "TRY",
    "chf": "CHF",
    "fr.": "CHF",
    "sfr.": "CHF",
    "₦": "NGN",
    "kd": "KWD",
    "br": "BYN",
    "бел. руб.": "BYN",
    "₾": "GEL",
    "₮": "MNT",
    "gh₵": "GHS",
    "ksh": "KES",
    "kshs": "KES",
    "₡": "CRC",
    "s/.": "PEN",
    "s/": "PEN",
    "q": "GTQ",
    "din.": "RSD",
    "дин.": "RSD",
    "ден": "MKD",
    "km": "BAM",
    "元": "CNY",
    "円": "JPY",
}

# Symbols several currencies share: the page's country (from its host's
# top-level domain) picks one, and the first entry is the default.
SHARED_SYMBOLS: dict[str, dict[str, str]] = {
    "$": {
        "": "USD",
        "ca": "CAD",
        "au": "AUD",
        "nz": "NZD",
        "mx": "MXN",
        "cl": "CLP",
        "ar": "ARS",
        "co": "COP",
        "sg": "SGD",
        "hk": "HKD",
        "tw": "TWD",
        "uy": "UYU",
        "br": "BRL",
    },
    "kr": {"": "SEK", "se": "SEK", "dk": "DKK", "no": "NOK", "is": "ISK"},
    "kr.": {"": "DKK", "se": "SEK", "dk": "DKK", "no": "NOK", "is": "ISK"},
    "¥": {"": "JPY", "jp": "JPY", "cn": "CNY"},
    "rs": {"": "INR", "in": "INR", "pk": "PKR", "lk": "LKR", "np": "NPR"},
    "rs.": {"": "INR", "in": "INR", "pk": "PKR", "lk": "LKR", "np": "NPR"},
    "r": {"": "ZAR", "za": "ZAR"},
}


def site_country(url: str) -> str:
    """Return the two-letter country of a URL's host from its top-level domain, or "" for .com and the like.

    >>> site_country("https://www.amazon.co.uk/dp/1")
    'uk'
    >>> site_country("https://shop.example.com/")
    ''
    """
    host = urlsplit(url).hostname or ""
    top = host.rsplit(".", 1)[-1]
    return top if len(top) == 2 and top.isalpha() else ""


def currency_to_iso(text: str | None, *, country: str = "") -> str | None:
    """Map currency text as printed ("€", "zł", "$", "usd") to its ISO 4217 code, or None if unknown.

    `country` is the page's two-letter top-level domain, which decides what a
    shared symbol such as "$" or "kr" means.

    >>> currency_to_iso("$", country="ca")
    'CAD'
    >>> currency_to_iso("kr", country="no")
    'NOK'
    """
    if not text:
        return None

    cleaned = text.strip()
    if cleaned.upper() in ISO_CODES:
        return cleaned.upper()

    key = cleaned.lower()
    if key in UNAMBIGUOUS_SYMBOLS:
        return UNAMBIGUOUS_SYMBOLS[key]

    shared = SHARED_SYMBOLS.get(key)
    if shared is not None:
        return shared.get(country, shared[""])

    # "US $", "CAD $", "€ EUR": a code next to a symbol, where the code wins.
    for part in re.split(r"[\s.:]+", cleaned):
        if part.upper() in ISO_CODES:
            return part.upper()
    return None


# Currency text price-parser does not know, matched as whole words. Longest first,
# so "руб." wins over "р.".
_EXTRA_SYMBOL_PATTERN = re.compile(
    r"(?<![\w])(тг\.?|тенге|kn|원~?|руб\.?|грн\.?|лв\.?|ש״ח|ر\.س\.?|د\.إ|Kshs|KSh|s/\.?|дин\.|ден"
    r"|бел\. руб\.)(?![\w])",
    re.IGNORECASE,
)


def parse_price(
    text: str | None,
    *,
    country: str = "",
    currency_hint: str | None = None,
    decimal_separator: str | None = None,
) -> ParsedPrice:
    """Parse a price string such as "1 299,00 zł" into amount, currency text and ISO code.

    `currency_hint` is nearby text that may name the currency when `text`
    does not (a separate currency element, a structured-data code).

    >>> parse_price("1 299,00 zł")
    ParsedPrice(amount=Decimal('1299.00'), currency_text='zł', currency='PLN')
    >>> parse_price("$12.50", country="au").currency
    'AUD'
    """
    if not text and not currency_hint:
        return ParsedPrice(None, None, None)

    parsed = Price.fromstring(text or None, currency_hint=currency_hint, decimal_separator=decimal_separator)
    currency_text = parsed.currency
    if currency_text is None:
        match = _EXTRA_SYMBOL_PATTERN.search(text) if text else None
        if match is None and currency_hint:
            match = _EXTRA_SYMBOL_PATTERN.search(currency_hint)
        if match is not None:
            currency_text = match.group(1)

    return ParsedPrice(parsed.amount, currency_text, currency_to_iso(currency_text, country=country))


def parse_amount(value: object) -> Decimal | None:
    """Read a structured-data price (a number, or a string such as "12.99" or "1.299,00") as a Decimal.

    Plain machine numbers ("1299.00", 1299) go straight to Decimal because
    price-parser would read "1.299" as one thousand two hundred ninety-nine.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if not isinstance(value, str):
        return None

    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return Decimal(text)
    return Price.fromstring(text).amount


# ISO 4217 minor-unit exponents that differ from the usual 2 (cents). The
# currencies listed are those whose exponent the standard sets to 0 or 3.
_MINOR_UNIT_DIGITS: dict[str, int] = {
    **dict.fromkeys(
        ("JPY", "KRW", "CLP", "ISK", "VND", "UGX", "XOF", "XAF", "PYG", "RWF", "KMF", "GNF", "DJF", "BIF",
         "VUV", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "KWD", "JOD", "OMR", "TND", "IQD", "LYD"), 3),
}  # fmt: skip
_DEFAULT_MINOR_UNIT_DIGITS = 2


def minor_unit_digits(currency: str) -> int:
    """Return the ISO 4217 exponent of `currency`: the digits after the decimal point of its minor unit."""
    return _MINOR_UNIT_DIGITS.get(currency.upper(), _DEFAULT_MINOR_UNIT_DIGITS)


def normalize_amount(amount: Decimal, currency: str | None) -> Decimal:
    """Write `amount` with its currency's minor-unit digits, never dropping a non-zero digit.

    Pads with zeros and drops trailing zeros beyond the exponent. Without a
    currency, the amount stays as the page wrote it.

    >>> normalize_amount(Decimal("49.1"), "EUR"), normalize_amount(Decimal("1200.00"), "JPY")
    (Decimal('49.10'), Decimal('1200'))
    >>> normalize_amount(Decimal("0.125"), "EUR")
    Decimal('0.125')
    """
    if currency is None or not amount.is_finite():
        return amount

    digits = minor_unit_digits(currency)
    significant = amount.normalize()
    exponent = significant.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        # Non-zero digits beyond the minor unit (0.125 EUR) are kept as written, minus trailing zeros.
        return significant
    return amount.quantize(Decimal(1).scaleb(-digits))

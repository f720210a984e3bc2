"""Bright Data's product datasets by shop, and dataset records as `Product`s.

Dataset ids as published by Bright Data for its Web Scraper API (datasets v3);
each dataset accepts only product-page URLs of its shop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from product_extractor.brightdata.errors import RecordError
from product_extractor.products.availability import availability_from_text, normalize_availability
from product_extractor.products.model import Availability, Product, Variant
from product_extractor.products.prices import (
    currency_to_iso,
    normalize_amount,
    parse_amount,
    parse_price,
    site_country,
)
from product_extractor.products.text import absolute_url, clean_text, digits_only, plain_text

__all__ = [
    "DATASETS",
    "Dataset",
    "dataset_for",
    "product_from_record",
    "record_error",
    "record_input_url",
]


@dataclass(frozen=True, slots=True)
class Dataset:
    """A Bright Data product dataset and the product-page URLs it accepts."""

    name: str
    dataset_id: str
    hosts: tuple[str, ...]  # registrable host names; subdomains such as www. match too
    product_path: re.Pattern[str]  # searched in the URL's path

    def accepts(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https"):
            return False
        if not any(host == known or host.endswith("." + known) for known in self.hosts):
            return False
        return self.product_path.search(parts.path) is not None


# NOTE: which Amazon, eBay and Best Buy country stores the product datasets accept
# is an assumption; these lists hold the larger stores.
_AMAZON_HOSTS = (
    "amazon.com",
    "amazon.ca",
    "amazon.com.mx",
    "amazon.com.br",
    "amazon.co.uk",
    "amazon.de",
    "amazon.fr",
    "amazon.it",
    "amazon.es",
    "amazon.nl",
    "amazon.se",
    "amazon.pl",
    "amazon.in",
    "amazon.co.jp",
    "amazon.com.au",
    "amazon.sg",
    "amazon.ae",
    "amazon.sa",
)
_EBAY_HOSTS = ("ebay.com", "ebay.ca", "ebay.co.uk", "ebay.de", "ebay.fr", "ebay.it", "ebay.es", "ebay.com.au")

DATASETS: tuple[Dataset, ...] = (
    # The Amazon product dataset takes /dp/<ASIN> URLs only, not /gp/product/ ones.
    Dataset("amazon_product", "gd_l7q7dkf244hwjntr0", _AMAZON_HOSTS, re.compile(r"/dp/[A-Z0-9]{10}(?:/|$)")),
    Dataset("walmart_product", "gd_l95fol7l1ru6rlo116", ("walmart.com",), re.compile(r"/ip/")),
    Dataset("ebay_product", "gd_ltr9mjt81n0zzdk1fb", _EBAY_HOSTS, re.compile(r"/itm/")),
    Dataset("etsy_product", "gd_ltppk0jdv1jqz25mz", ("etsy.com",), re.compile(r"/listing/\d+")),
    Dataset(
        "bestbuy_product",
        "gd_ltre1jqe1jfr7cccf",
        ("bestbuy.com", "bestbuy.ca"),
        re.compile(r"/site/.+\.p$|/product/"),
    ),
    Dataset("zara_product", "gd_lct4vafw1tgx27d4o0", ("zara.com",), re.compile(r"-p\d+\.html$")),
    Dataset("homedepot_us_product", "gd_lmusivh019i7g97q2n", ("homedepot.com",), re.compile(r"/p/")),
    Dataset("homedepot_ca_product", "gd_lmyvvktscoojdor83", ("homedepot.ca",), re.compile(r"/product/")),
    Dataset(
        "google_shopping_product", "gd_ltppk50q18kdw67omz", ("google.com",), re.compile(r"/shopping/product/")
    ),
    Dataset("costco_product", "gd_mkcbmac44j178pook", ("costco.com",), re.compile(r"\.product\.\d+\.html$")),
)


def dataset_for(url: str) -> Dataset | None:
    """Return the product dataset that accepts `url`, or None when no dataset covers it.

    >>> dataset_for("https://www.amazon.com/dp/B07FW264WL").dataset_id
    'gd_l7q7dkf244hwjntr0'
    >>> dataset_for("https://www.amazon.com/s?k=tent") is None
    True
    """
    for dataset in DATASETS:
        if dataset.accepts(url):
            return dataset
    return None


def record_input_url(record: Mapping[str, Any]) -> str | None:
    """Return the URL a record was scraped for: its `input.url`, else its own `url`."""
    submitted = record.get("input")
    if isinstance(submitted, Mapping) and isinstance(submitted.get("url"), str):
        return str(submitted["url"])
    own = record.get("url")
    return own if isinstance(own, str) else None


def record_error(record: Mapping[str, Any], source_url: str) -> RecordError | None:
    """Return the error of an error record (`error`, `error_code`), or None for a product record."""
    if not record.get("error") and not record.get("error_code"):
        return None
    code = clean_text(record.get("error_code"))
    reason = clean_text(record.get("error")) or "no reason given"
    detail = f"{code}: {reason}" if code else reason
    return RecordError(
        source_url,
        f"the Bright Data dataset returned no product for {source_url} ({detail}); check that the URL is a "
        "live product page of the shop",
        error_code=code,
        requests=0,
    )


def product_from_record(record: Mapping[str, Any], source_url: str) -> Product:
    """Map one dataset record to a `Product`; raise `RecordError` for an error record.

    Field names follow the Amazon product record (title, asin, final_price,
    reviews_count). Where another shop's dataset names a field differently, the
    alternatives listed with each field cover it.
    """
    error = record_error(record, source_url)
    if error is not None:
        raise error

    page_url = clean_text(record.get("url")) or source_url
    country = site_country(page_url)
    price, currency = _price(record, ("final_price", "price", "initial_price"), country)

    return Product(
        name=_first_text(record, "title", "name", "product_name"),
        brand=_brand(record.get("brand")),
        sku=_first_text(record, "asin", "sku", "product_id", "item_id", "listing_id"),
        gtin=_gtin(record),
        mpn=_first_text(record, "model_number", "mpn", "model"),
        price=price,
        currency=currency,
        availability=_availability(record),
        url=page_url,
        images=_images(record, page_url),
        description=plain_text(record.get("description")) or plain_text(record.get("product_description")),
        rating=_number(record.get("rating")),
        review_count=_count(_first_present(record, "reviews_count", "review_count", "ratings_count")),
        variants=_variants(record.get("variations"), page_url, country, currency),
        source_url=source_url,
        extracted_by="brightdata-dataset",
    )


def _first_present(record: Mapping[str, Any], *keys: str) -> object:
    for key in keys:
        value = record.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _first_text(record: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        text = clean_text(record.get(key))
        if text is not None:
            return text
    return None


def _brand(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name")
    return clean_text(value)


def _gtin(record: Mapping[str, Any]) -> str | None:
    # GTIN-8, -12 (UPC), -13 (EAN) and -14 are the only valid lengths.
    for key in ("upc", "gtin", "ean", "gtin13", "gtin12"):
        digits = digits_only(record.get(key))
        if digits is not None and len(digits) in (8, 12, 13, 14):
            return digits
    return None


def _price(
    record: Mapping[str, Any], keys: tuple[str, ...], country: str
) -> tuple[Decimal | None, str | None]:
    currency = currency_to_iso(clean_text(record.get("currency")), country=country)
    for key in keys:
        value = record.get(key)
        if isinstance(value, str):
            parsed = parse_price(value, country=country)
            if parsed.amount is not None:
                found_currency = currency or parsed.currency
                return normalize_amount(parsed.amount, found_currency), found_currency
        amount = parse_amount(value)
        if amount is not None:
            # Datasets send numbers such as 99.0; written with the currency's minor-unit digits
            # they match prices parsed from pages (99.00).
            return normalize_amount(amount, currency), currency
    return None, currency


def _availability(record: Mapping[str, Any]) -> Availability | None:
    """Read the free-text `availability` first, because it can be more specific than `is_available`."""
    text = clean_text(record.get("availability"))
    if text is not None:
        found = normalize_availability(text) or availability_from_text(text)
        if found is not None:
            return found

    flag = record.get("is_available")
    if isinstance(flag, bool):
        return "InStock" if flag else "OutOfStock"
    return None


def _images(record: Mapping[str, Any], base: str) -> list[str]:
    candidates: list[object] = [record.get("image_url"), record.get("image")]
    images = record.get("images")
    if isinstance(images, list):
        candidates.extend(images)

    found: list[str] = []
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            candidate = candidate.get("url") or candidate.get("image_url")
        resolved = absolute_url(candidate, base)
        if resolved is not None and resolved not in found:
            found.append(resolved)
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.search(r"\d+(?:[.,]\d+)?", value)
        if match is not None:
            return float(match.group(0).replace(",", "."))
    return None


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    digits = digits_only(value)
    return int(digits) if digits is not None else None


def _variants(value: object, base: str, country: str, currency: str | None) -> list[Variant]:
    if not isinstance(value, list):
        return []

    variants: list[Variant] = []
    for item in value:
        if not isinstance(item, Mapping):
            continue
        price, item_currency = _price(item, ("final_price", "price"), country)
        variants.append(
            Variant(
                name=_first_text(item, "name", "title"),
                sku=_first_text(item, "asin", "sku", "product_id", "item_id"),
                gtin=_gtin(item),
                price=price,
                currency=item_currency or (currency if price is not None else None),
                availability=_availability(item),
                url=absolute_url(item.get("url"), base),
                image=absolute_url(item.get("image") or item.get("image_url"), base),
                color=_first_text(item, "color", "colour"),
                size=_first_text(item, "size"),
            )
        )
    return variants

"""Web Scraper API datasets the stand-in serves, and the records it builds from a saved page's labels.

Field names follow Bright Data's Amazon product record (`title`, `final_price`,
`reviews_count`, `image_url`...). Other datasets get the same fields with
their own id field in place of `asin`. A record holds only what the index
labels and the URL give; every other field is null or empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from product_extractor.sandbox.saved_pages import SavedPage


@dataclass(frozen=True, slots=True)
class Dataset:
    """One dataset: its id, a name for messages, the record's id field and the hosts it scrapes."""

    id: str
    name: str
    id_field: str  # `asin` for Amazon; the name other datasets use is a guess
    host_pattern: re.Pattern[str]


def _hosts(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"^(?:[a-z0-9-]+\.)*(?:{pattern})$")


DATASETS = {
    dataset.id: dataset
    for dataset in (
        Dataset("gd_l7q7dkf244hwjntr0", "Amazon product", "asin", _hosts(r"amazon\.[a-z.]+")),
        Dataset("gd_l95fol7l1ru6rlo116", "Walmart product", "product_id", _hosts(r"walmart\.[a-z.]+")),
        Dataset("gd_ltr9mjt81n0zzdk1fb", "eBay product", "product_id", _hosts(r"ebay\.[a-z.]+")),
        Dataset("gd_ltppk0jdv1jqz25mz", "Etsy product", "product_id", _hosts(r"etsy\.[a-z.]+")),
        Dataset("gd_ltre1jqe1jfr7cccf", "Best Buy product", "sku", _hosts(r"bestbuy\.[a-z.]+")),
        Dataset("gd_lct4vafw1tgx27d4o0", "Zara product", "product_id", _hosts(r"zara\.com")),
        Dataset("gd_lmusivh019i7g97q2n", "Home Depot US product", "product_id", _hosts(r"homedepot\.com")),
        Dataset("gd_lmyvvktscoojdor83", "Home Depot CA product", "product_id", _hosts(r"homedepot\.ca")),
        Dataset("gd_ltppk50q18kdw67omz", "Google Shopping product", "product_id", _hosts(r"google\.[a-z.]+")),
        Dataset("gd_mkcbmac44j178pook", "Costco product", "product_id", _hosts(r"costco\.[a-z.]+")),
    )
}
AMAZON_PRODUCT = "gd_l7q7dkf244hwjntr0"

# Printed currency labels to ISO 4217. "$" depends on the shop's country,
# which the host's top-level domain gives well enough for the saved shops.
_CURRENCY_SYMBOLS = {"€": "EUR", "£": "GBP", "zł": "PLN", "¥": "JPY", "₹": "INR", "₩": "KRW", "₪": "ILS"}
_DOLLAR_BY_TLD = {"ca": "CAD", "au": "AUD", "nz": "NZD", "sg": "SGD", "tw": "TWD", "mx": "MXN", "cl": "CLP"}

_ASIN_IN_PATH = re.compile(r"/(?:dp|gp/product)/([A-Z0-9]{10})(?:[/?]|$)")
_LAST_NUMBER_IN_PATH = re.compile(r"(\d{4,})(?!.*\d{4,})")


def build_record(dataset: Dataset, page: SavedPage, input_object: dict[str, Any]) -> dict[str, Any]:
    """Build the record a dataset delivers for a saved product page, from its labels and URL."""
    labels = page.labels
    host = page.host
    price = _number(_first(labels, "price"))
    availability = _first(labels, "availability")
    image = _first(labels, "image")

    record: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "input": input_object,
        "url": page.url,
        "origin_url": page.url,
        "domain": f"{urlsplit(page.url).scheme}://{host}/",
        "title": _first(labels, "name"),
        "brand": _first(labels, "brand"),
        "manufacturer": _first(labels, "brand"),
        dataset.id_field: _record_id(dataset, page),
        "model_number": _first(labels, "mpn"),
        "upc": _first(labels, "gtin"),
        "initial_price": price,
        "final_price": price,
        "currency": _iso_currency(_first(labels, "currency"), host),
        "discount": None,
        "availability": _availability_text(availability),
        "is_available": None if availability is None else availability == "InStock",
        "rating": _rating_out_of_five(labels),
        "reviews_count": _integer(_first(labels, "review_count")),
        "image_url": image,
        "image": image,
        "images": [image] if image else [],
        "images_count": 1 if image else 0,
        "description": _first(labels, "description"),
        "features": [],
        "categories": [],
        "seller_name": None,
        # NOTE: labels hold only how many variants a page has, not what they are.
        "variations": [],
    }
    if dataset.id == AMAZON_PRODUCT:
        record["parent_asin"] = record["asin"]
        record["input_asin"] = record["asin"]
    return record


def error_record(input_object: dict[str, Any], error: str, error_code: str) -> dict[str, Any]:
    """Build the record a dataset delivers for an input it could not collect, when include_errors is set."""
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "input": input_object,
        "error": error,
        "error_code": error_code,
    }


def is_error_record(record: dict[str, Any]) -> bool:
    return "error_code" in record


def _record_id(dataset: Dataset, page: SavedPage) -> str | None:
    if dataset.id == AMAZON_PRODUCT:
        match = _ASIN_IN_PATH.search(urlsplit(page.url).path)
        if match:
            return match.group(1)
    sku = _first(page.labels, "sku")
    if sku is not None:
        return str(sku)
    match = _LAST_NUMBER_IN_PATH.search(urlsplit(page.url).path)
    return match.group(1) if match else None


def _first(labels: Any, key: str) -> Any:
    """Return the first acceptable value of a label, or None when the page shows none."""
    values = labels.get(key)
    if isinstance(values, list):
        return values[0] if values else None
    return values


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _rating_out_of_five(labels: Any) -> float | None:
    """Return the labelled rating on a 5-star scale, as Amazon's records give it."""
    rating = _number(_first(labels, "rating"))
    scale = _number(labels.get("rating_scale")) or 5.0
    return None if rating is None else round(rating * 5 / scale, 2)


def _iso_currency(printed: Any, host: str) -> str | None:
    if not isinstance(printed, str):
        return None
    text = printed.strip()
    if re.fullmatch(r"[A-Z]{3}", text):
        return text
    if "$" in text:
        return _DOLLAR_BY_TLD.get(host.rsplit(".", 1)[-1], "USD")
    return _CURRENCY_SYMBOLS.get(text)


def _availability_text(availability: Any) -> str | None:
    """Return availability as Amazon prints it; the labels only record in or out of stock."""
    if availability == "InStock":
        return "In Stock"
    if availability == "OutOfStock":
        return "Currently unavailable."
    return None

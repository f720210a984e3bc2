"""Product URLs to Bright Data datasets, and dataset records to `Product`s."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from product_extractor.brightdata.datasets import dataset_for, product_from_record, record_error
from product_extractor.brightdata.errors import RecordError


@pytest.mark.parametrize(
    ("url", "dataset_id"),
    [
        ("https://www.amazon.com/dp/B07FW264WL", "gd_l7q7dkf244hwjntr0"),
        (
            "https://www.amazon.co.uk/Vegetable-Perfection-tasty-recipes-shoots/dp/1849757097/ref=asap_bc?ie=UTF8",
            "gd_l7q7dkf244hwjntr0",
        ),
        ("https://www.amazon.de/dp/B00BRMIU7A", "gd_l7q7dkf244hwjntr0"),
        ("https://www.walmart.com/ip/Some-Toaster/123456789", "gd_l95fol7l1ru6rlo116"),
        ("https://www.ebay.com/itm/302474151804", "gd_ltr9mjt81n0zzdk1fb"),
        ("https://www.ebay.co.uk/itm/143863282131", "gd_ltr9mjt81n0zzdk1fb"),
        ("https://www.etsy.com/listing/1234567/hand-thrown-mug", "gd_ltppk0jdv1jqz25mz"),
        ("https://www.bestbuy.com/site/some-tv/6501234.p?skuId=6501234", "gd_ltre1jqe1jfr7cccf"),
        ("https://www.bestbuy.ca/en-ca/product/google-nest-hello/12222651", "gd_ltre1jqe1jfr7cccf"),
        ("https://www.zara.com/be/en/flat-boots-p11002710.html?v1=84518927", "gd_lct4vafw1tgx27d4o0"),
        ("https://www.homedepot.com/p/Some-Drill/312345678", "gd_lmusivh019i7g97q2n"),
        ("https://www.homedepot.ca/product/some-drill/1001234567", "gd_lmyvvktscoojdor83"),
        ("https://www.google.com/shopping/product/1234567890123456789", "gd_ltppk50q18kdw67omz"),
        ("https://www.costco.com/some-sofa.product.100123456.html", "gd_mkcbmac44j178pook"),
    ],
)
def test_product_url_has_dataset(url: str, dataset_id: str) -> None:
    dataset = dataset_for(url)
    assert dataset is not None
    assert dataset.dataset_id == dataset_id


@pytest.mark.parametrize(
    "url",
    [
        "https://www.amazon.com/gp/product/B0057OC5O8/",  # not the /dp/ form the dataset takes
        "https://www.amazon.com/s?k=tent",
        "https://www.bestbuy.com/search?q=radio",
        "https://www.ebay.co.uk/sch/i.html?_nkw=television",
        "https://www.etsy.com/search?q=disney",
        "https://www.homedepot.com/search?q=car",
        "https://www.zara.com/be/en/woman-dresses-l1066.html",
        "https://www.sample-outdoor.example/products/ridgeline-2-tent",
        "https://notamazon.com/dp/B07FW264WL",
        "ftp://www.amazon.com/dp/B07FW264WL",
    ],
)
def test_other_url_has_no_dataset(url: str) -> None:
    assert dataset_for(url) is None


# Shaped like a real Amazon product record, cut to the fields the mapping reads.
AMAZON_RECORD: dict[str, Any] = {
    "timestamp": "2026-02-02T10:00:00.000Z",
    "input": {"url": "https://www.amazon.com/dp/B0CRMZHDG8"},
    "url": "https://www.amazon.com/Some-Lamp/dp/B0CRMZHDG8",
    "title": "  Desk Lamp,\n LED  ",
    "brand": "Lumen",
    "manufacturer": "Lumen Works",
    "asin": "B0CRMZHDG8",
    "upc": "0 99482-46799 9",
    "model_number": "LX-200",
    "initial_price": 39.99,
    "final_price": 29.99,
    "currency": "USD",
    "availability": "Only 1 left in stock - order soon.",
    "is_available": True,
    "rating": 4.4,
    "reviews_count": 1523,
    "image_url": "https://m.media-amazon.com/images/I/main.jpg",
    "images": [
        "https://m.media-amazon.com/images/I/main.jpg",
        "https://m.media-amazon.com/images/I/side.jpg",
    ],
    "description": "A <b>bright</b> lamp &amp; more",
    "variations": [
        {"name": "Black", "asin": "B0CRMZHDG8", "price": 29.99, "currency": "USD", "color": "Black"},
        {"name": "White", "asin": "B0CRMZHDG9", "price": "$31.50", "color": "White"},
        "not a variation",
    ],
}
SOURCE = "https://www.amazon.com/dp/B0CRMZHDG8"


def test_amazon_record_fields() -> None:
    product = product_from_record(AMAZON_RECORD, SOURCE)

    assert product.name == "Desk Lamp, LED"
    assert product.brand == "Lumen"
    assert product.sku == "B0CRMZHDG8"
    assert product.gtin == "099482467999"
    assert product.mpn == "LX-200"
    assert product.price == Decimal("29.99")
    assert product.currency == "USD"
    assert product.availability == "InStock"
    assert product.rating == 4.4
    assert product.review_count == 1523
    assert product.images == [
        "https://m.media-amazon.com/images/I/main.jpg",
        "https://m.media-amazon.com/images/I/side.jpg",
    ]
    assert product.description == "A bright lamp & more"
    assert product.url == "https://www.amazon.com/Some-Lamp/dp/B0CRMZHDG8"
    assert product.source_url == SOURCE
    assert product.extracted_by == "brightdata-dataset"


def test_amazon_record_variations() -> None:
    variants = product_from_record(AMAZON_RECORD, SOURCE).variants

    assert [variant.sku for variant in variants] == ["B0CRMZHDG8", "B0CRMZHDG9"]
    assert [variant.price for variant in variants] == [Decimal("29.99"), Decimal("31.50")]
    assert [variant.currency for variant in variants] == ["USD", "USD"]
    assert [variant.color for variant in variants] == ["Black", "White"]


@pytest.mark.parametrize(
    ("availability", "is_available", "expected"),
    [
        ("In Stock", None, "InStock"),
        ("Only 3 left in stock - order soon.", True, "InStock"),
        ("Currently unavailable.", False, "OutOfStock"),
        ("Temporarily out of stock.", None, "OutOfStock"),
        ("Pre-order", None, "PreOrder"),
        ("https://schema.org/BackOrder", None, "BackOrder"),
        (None, True, "InStock"),
        (None, False, "OutOfStock"),
        ("Usually ships within 2 to 3 weeks.", True, "InStock"),
        (None, None, None),
    ],
)
def test_availability_from_record(
    availability: str | None, is_available: bool | None, expected: str | None
) -> None:
    record = {"title": "Lamp", "availability": availability, "is_available": is_available}
    assert product_from_record(record, SOURCE).availability == expected


@pytest.mark.parametrize(
    ("record", "price", "currency"),
    [
        ({"final_price": 12, "currency": "EUR"}, Decimal("12"), "EUR"),
        ({"final_price": "1.299,00 €"}, Decimal("1299.00"), "EUR"),
        ({"price": "$5.25"}, Decimal("5.25"), "USD"),
        ({"final_price": None, "initial_price": 7.5, "currency": "£"}, Decimal("7.5"), "GBP"),
        ({"currency": "USD"}, None, "USD"),
    ],
)
def test_price_from_record(record: dict[str, Any], price: Decimal | None, currency: str | None) -> None:
    product = product_from_record(record, SOURCE)
    assert product.price == price
    assert product.currency == currency


def test_invalid_gtin_is_dropped() -> None:
    assert product_from_record({"upc": "12345"}, SOURCE).gtin is None


def test_error_record_raises() -> None:
    record = {"input": {"url": SOURCE}, "error": "Seller no more exists", "error_code": "dead_page"}

    with pytest.raises(RecordError) as caught:
        product_from_record(record, SOURCE)

    assert caught.value.url == SOURCE
    assert caught.value.error_code == "dead_page"
    assert f"no product for {SOURCE} (dead_page: Seller no more exists)" in str(caught.value)


def test_product_record_has_no_error() -> None:
    assert record_error(AMAZON_RECORD, SOURCE) is None


@pytest.mark.parametrize(
    ("price", "currency", "expected"),
    [(99.0, "NZD", "99.00"), ("19.5", "EUR", "19.50"), (24990, "CLP", "24990"), (12.345, "KWD", "12.345")],
)
def test_record_price_has_minor_unit_digits(price: object, currency: str, expected: str) -> None:
    record = {
        "title": "Kettle",
        "final_price": price,
        "currency": currency,
        "url": "https://www.amazon.com/dp/B000000001",
    }
    product = product_from_record(record, "https://www.amazon.com/dp/B000000001")
    assert str(product.price) == expected

"""extract_products arguments: URL validation, normalisation, duplicates and bounds."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from product_extractor.products import PRODUCT_FIELDS
from product_extractor.tools.arguments import (
    ALWAYS_RETURNED,
    ExtractProductsArguments,
    ProductField,
    normalise_url,
    redact_user_info,
    split_duplicates,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Shop.Example/p/1", "https://shop.example/p/1"),
        ("HTTPS://shop.example", "https://shop.example/"),
        ("http://shop.example:80/a?b=1#reviews", "http://shop.example/a?b=1"),
        ("https://shop.example:443/a", "https://shop.example/a"),
        ("https://shop.example:8443/a", "https://shop.example:8443/a"),
        ("  https://shop.example/a  ", "https://shop.example/a"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("http://127.0.0.1:8080/www.ikea.com/p/", "http://127.0.0.1:8080/www.ikea.com/p/"),
        ("http://[::1]:9000/a", "http://[::1]:9000/a"),
    ],
)
def test_normalise_url_canonical_forms(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "is empty"),
        ("shop.example/p/1", "no scheme"),
        ("ftp://shop.example/file", "scheme 'ftp'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("https://", "no host name"),
        ("https://user:secret@shop.example/", "credentials"),
        ("https://shop.example/a b", "white space"),
        ("https://shop.example:99999/", "invalid host or port"),
        ("https://shop.example/" + "a" * 3000, "longer than 2048"),
    ],
)
def test_normalise_url_rejects_with_reason(given: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_url(given)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("http://user:hunter2@10.0.0.1/p", "'http://***@10.0.0.1/p' contains credentials"),
        ("https://:hunter2@shop.example/", "'https://***@shop.example/' contains credentials"),
        ("ftp://user:hunter2@shop.example/f", "'ftp://***@shop.example/f' has scheme 'ftp'"),
        ("https://user:hunter2@shop.example/a b", "'https://***@shop.example/a b' contains white space"),
        ("https://user:hun ter2@shop.example/", "'https://***@shop.example/' contains white space"),
        ("user:hunter2@shop.example/p", "'***@shop.example/p' has scheme 'user'"),
        ("//user:hunter2@shop.example/p", "'//***@shop.example/p' has no scheme"),
    ],
)
def test_url_errors_redact_credentials(given: str, shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)) as raised:
        normalise_url(given)
    # Every password here starts with "hun".
    assert "hun" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:hunter2@10.0.0.1/p", "http://***@10.0.0.1/p"),
        ("https://user:p@ss@shop.example", "https://***@shop.example"),
        ("user:hunter2@shop.example/p", "***@shop.example/p"),
        (
            '["http://a:hunter2@x.example/", "https://b@y.example"]',
            '["http://***@x.example/", "https://***@y.example"]',
        ),
        (
            "'http://a:hunter2@x.example/p' contains credentials",
            "'http://***@x.example/p' contains credentials",
        ),
        # An "@" after the host is part of the path or query, not user-info.
        ("https://shop.example/p?email=a@b.example", "https://shop.example/p?email=a@b.example"),
        ("https://shop.example/a//b@c", "https://shop.example/a//b@c"),
        ("https://shop.example/@brand", "https://shop.example/@brand"),
    ],
)
def test_redact_user_info_cases(text: str, expected: str) -> None:
    assert redact_user_info(text) == expected


def test_split_duplicates_keeps_first_order() -> None:
    unique, duplicates = split_duplicates(["https://a.example/", "https://b.example/", "https://a.example/"])
    assert unique == ["https://a.example/", "https://b.example/"]
    assert duplicates == ["https://a.example/"]


def test_arguments_normalise_before_duplicates() -> None:
    arguments = ExtractProductsArguments(urls=["https://A.example/x#top", "https://a.example/x"])
    assert split_duplicates(arguments.urls) == (["https://a.example/x"], ["https://a.example/x"])


def test_duplicates_reported_as_given() -> None:
    arguments = ExtractProductsArguments(
        urls=[
            "https://a.example/x",
            " HTTPS://A.example/x#top",
            "https://b.example/",
            "https://a.example:443/x",
        ]
    )
    assert arguments.unique_urls() == (
        ["https://a.example/x", "https://b.example/"],
        ["HTTPS://A.example/x#top", "https://a.example:443/x"],
    )


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"urls": []}, "urls"),
        ({"urls": [f"https://shop.example/{n}" for n in range(51)]}, "urls"),
        ({"urls": ["https://shop.example/"], "max_products_per_url": 0}, "max_products_per_url"),
        ({"urls": ["https://shop.example/"], "max_products_per_url": 501}, "max_products_per_url"),
        ({"urls": ["https://shop.example/"], "timeout_s": 0}, "timeout_s"),
        ({"urls": ["https://shop.example/"], "fields": ["colour"]}, "fields"),
        ({"urls": ["https://shop.example/"], "fields": []}, "fields"),
        ({"urls": ["https://shop.example/"], "max_products_per_url": True}, "max_products_per_url"),
        ({"urls": ["https://shop.example/"], "timeout_s": False}, "timeout_s"),
        ({"urls": ["https://shop.example/"], "max_cost_usd": -0.01}, "max_cost_usd"),
        ({"urls": ["https://shop.example/"], "max_cost_usd": True}, "max_cost_usd"),
        ({"urls": ["https://shop.example/"], "pages": 3}, "pages"),
    ],
)
def test_arguments_out_of_bounds_rejected(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ExtractProductsArguments.model_validate(arguments)
    assert raised.value.errors()[0]["loc"][0] == field


def test_product_field_names_match_model() -> None:
    assert set(ProductField.__args__) == set(PRODUCT_FIELDS)
    assert set(ALWAYS_RETURNED) <= set(PRODUCT_FIELDS)

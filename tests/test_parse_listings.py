"""parse_page on saved listing pages: product links against hand labels, next-page links, page kinds.

Many testbed listing URLs were made up for pages saved without one, and their
labelled links name the shop's real host (bestbuy.ca for a bestbuy.com URL).
For those the test calls parse_page with the labelled links' host, as the
crawler would have fetched the page from there.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from product_extractor.products import ParsedPage, parse_page
from product_extractor.products.text import CaselessPattern, absolute_url
from tests.peb_scoring import load_index, read_page

pytestmark = pytest.mark.corpus

# Measured after the last parser change, rounded down to 3 decimals.
LINK_PRECISION_FLOOR = 0.795
LINK_RECALL_FLOOR = 0.838
NEXT_PAGE_ACCURACY_FLOOR = 0.916
OTHER_PAGES_CORRECT_FLOOR = 5
AUTOPAGER_KINDS_CORRECT_FLOOR = 28
# Listing and non-shop pages that still come back as one product. The one
# left is a product page that the autopager set labels as a non-listing.
MAX_AUTOPAGER_PRODUCT_PAGES = 1
TESTBED_LISTING_KIND_FLOOR = 30


def _page_url(row: dict[str, Any]) -> str:
    """Return the URL to parse a page as: the labelled links' host when the index URL names another one."""
    url = str(row["url"])
    links = row["labels"].get("product_links") or []
    if not links:
        return url
    labelled = urlsplit(links[0])
    own = urlsplit(url)
    if labelled.hostname == own.hostname:
        return url
    return urlunsplit((labelled.scheme, labelled.netloc, own.path, own.query, ""))


def _parse(corpus_dir: Path, row: dict[str, Any]) -> ParsedPage:
    return parse_page(read_page(corpus_dir, row), _page_url(row))


@pytest.fixture(scope="module")
def testbed_rows(corpus_dir: Path) -> list[dict[str, Any]]:
    return [row for row in load_index(corpus_dir) if row["file"].startswith("listings/testbed/")]


@pytest.fixture(scope="module")
def autopager_rows(corpus_dir: Path) -> list[dict[str, Any]]:
    return [row for row in load_index(corpus_dir) if row["file"].startswith("listings/autopager/")]


def test_testbed_product_links(corpus_dir: Path, testbed_rows: list[dict[str, Any]]) -> None:
    found_total = expected_total = matched_total = 0
    print(f"\n{'page':<28}{'found':>6}{'expected':>9}{'matched':>8}")
    for row in testbed_rows:
        found = _parse(corpus_dir, row).product_links
        expected = row["labels"]["product_links"]
        matched = len(set(found) & set(expected))
        print(f"{row['id']:<28}{len(found):>6}{len(expected):>9}{matched:>8}")
        found_total += len(found)
        expected_total += len(expected)
        matched_total += matched

    precision = matched_total / found_total if found_total else 0.0
    recall = matched_total / expected_total
    print(f"product links: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= LINK_PRECISION_FLOOR
    assert recall >= LINK_RECALL_FLOOR


def test_testbed_pages_are_listings(corpus_dir: Path, testbed_rows: list[dict[str, Any]]) -> None:
    kinds = Counter(_parse(corpus_dir, row).kind for row in testbed_rows)
    print(f"\ntestbed page kinds: {dict(kinds)}")
    assert kinds["listing"] >= TESTBED_LISTING_KIND_FLOOR, f"page kinds: {dict(kinds)}"


def _expected_next(html: str, selector: str | None, url: str) -> str | None:
    """Return the href of the link the labelled selector picks: the element, a link inside it or around it."""
    if selector is None:
        return None
    node: LexborNode | None = LexborHTMLParser(html).css_first(selector)
    while node is not None and not (node.tag == "a" and "href" in node.attributes):
        inner = node.css_first("a[href]")
        if inner is not None:
            node = inner
            break
        node = node.parent
    return absolute_url(node.attributes.get("href"), url) if node is not None else None


def test_autopager_next_page(corpus_dir: Path, autopager_rows: list[dict[str, Any]]) -> None:
    correct = 0
    for row in autopager_rows:
        html = read_page(corpus_dir, row)
        expected = _expected_next(html, row["labels"]["next_selector"], row["url"])
        found = parse_page(html, row["url"]).next_page_url
        print(f"{row['id']:<16} {'ok ' if found == expected else 'MISS'} found {found} expected {expected}")
        correct += found == expected
    accuracy = correct / len(autopager_rows)
    print(f"next page: {correct}/{len(autopager_rows)} correct ({accuracy:.3f})")
    assert accuracy >= NEXT_PAGE_ACCURACY_FLOOR


def test_autopager_page_kinds(corpus_dir: Path, autopager_rows: list[dict[str, Any]]) -> None:
    confusion: Counter[tuple[str, str]] = Counter()
    for row in autopager_rows:
        confusion[(row["kind"], _parse(corpus_dir, row).kind)] += 1
    print(
        "\nlabelled kind -> parsed kind: "
        + ", ".join(f"{a}->{b}: {n}" for (a, b), n in sorted(confusion.items()))
    )
    others_correct = confusion[("other", "other")]
    assert others_correct >= OTHER_PAGES_CORRECT_FLOOR
    kinds_correct = confusion[("listing", "listing")] + others_correct
    assert kinds_correct >= AUTOPAGER_KINDS_CORRECT_FLOOR
    products = confusion[("listing", "product")] + confusion[("other", "product")]
    assert products <= MAX_AUTOPAGER_PRODUCT_PAGES


# Link targets and classes in mixed case, and non-ASCII text that only
# `re.IGNORECASE` folds (long s, Kelvin sign).
_CASELESS_CASES = [
    "/Checkout/Step-1",
    "/WishList?id=3",
    "/products/desk-lamp",
    "PRODUCT-CARD Add-To-Cart",
    "product-card",
    "/baſket",
    "/\u212aontakt/cart",
    "/Ärmel/SIGN-IN",
    "",
]


@pytest.mark.parametrize("text", _CASELESS_CASES)
def test_caseless_pattern_matches_ignorecase(text: str) -> None:
    pattern = re.compile(r"wish-?list|/cart\b|basket|checkout|sign-?in|add-?to-?cart|/k", re.IGNORECASE)
    assert CaselessPattern(pattern).search(text) == (pattern.search(text) is not None)


def test_caseless_pattern_rejects_upper_case() -> None:
    with pytest.raises(ValueError, match="lower case"):
        CaselessPattern(re.compile("Cart", re.IGNORECASE))

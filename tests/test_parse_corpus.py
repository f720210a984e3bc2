"""parse_page over the saved real product pages, scored per field the PEB way.

Run with `-s` (or `-rA`) to see the precision, recall and F1 table next to the
baselines' F1 on the same pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from product_extractor.products import parse_page
from tests.peb_scoring import (
    HAND_FIELDS,
    PEB_FIELDS,
    FieldScore,
    format_table,
    load_index,
    product_predictions,
    read_page,
    score_pages,
)

pytestmark = pytest.mark.corpus

# F1 floors, set at the measured value after the last parser change and rounded
# down to 3 decimals: raise them when the parser improves, never lower them.
F1_FLOORS: dict[str, float] = {
    "price": 0.928,
    "currency": 0.94,
    "availability": 0.946,
    "sku": 0.93,
    "brand": 0.81,
    "gtin": 0.705,
    "mpn": 0.65,
    "name": 0.853,
    "image": 0.675,
    "description": 0.75,
}

# Product pages that may yield no record because the parser takes them for a
# listing or another page; lower it as page-kind rules improve.
MAX_PAGES_WITHOUT_PRODUCT = 0

BASELINES = ("zyte", "diffbot", "extruct")


@pytest.fixture(scope="module")
def product_rows(corpus_dir: Path) -> list[dict[str, Any]]:
    return [row for row in load_index(corpus_dir) if row["kind"] == "product"]


@pytest.fixture(scope="module")
def scores(corpus_dir: Path, product_rows: list[dict[str, Any]]) -> dict[str, FieldScore]:
    pages = []
    for row in product_rows:
        parsed = parse_page(read_page(corpus_dir, row), row["url"])
        pages.append((row, product_predictions(parsed.products[0] if parsed.products else None)))
    result = score_pages(pages, PEB_FIELDS + HAND_FIELDS)

    baselines: dict[str, dict[str, float]] = {}
    peb_rows = [row for row in product_rows if row["source"] == "scrapinghub/product-extraction-benchmark"]
    for name in BASELINES:
        predictions = json.loads((corpus_dir / "baselines" / f"{name}.json").read_text(encoding="utf-8"))
        baseline_pages = [(row, predictions.get(row["id"], {})) for row in peb_rows]
        baselines[name] = {
            field: score.f1 for field, score in score_pages(baseline_pages, PEB_FIELDS).items()
        }
    print("\n" + format_table(result, baselines))
    return result


def test_corpus_has_labelled_products(product_rows: list[dict[str, Any]]) -> None:
    assert len(product_rows) == 109


@pytest.mark.parametrize("field", list(F1_FLOORS))
def test_field_f1_at_least_floor(scores: dict[str, FieldScore], field: str) -> None:
    assert scores[field].f1 >= F1_FLOORS[field], (
        f"{field} F1 {scores[field].f1:.3f} fell below {F1_FLOORS[field]}"
    )


def test_product_pages_yield_records(corpus_dir: Path, product_rows: list[dict[str, Any]]) -> None:
    empty = [
        row["id"] for row in product_rows if not parse_page(read_page(corpus_dir, row), row["url"]).products
    ]
    assert len(empty) <= MAX_PAGES_WITHOUT_PRODUCT, f"no product record on {empty}"

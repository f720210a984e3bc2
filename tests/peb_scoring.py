"""Reading the saved corpus pages and scoring predictions the product-extraction-benchmark (PEB) way.

PEB scoring: one prediction per attribute and page. A prediction equal to one
of the expected values is a true positive. A wrong prediction is a false
positive, and also a false negative when the page has a value. A missing
prediction is a false negative when the page has a value.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from product_extractor.products.model import Product

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

# The symbols PEB labels use for each currency ("as printed on the page").
LABEL_SYMBOLS: dict[str, set[str]] = {
    "USD": {"$", "US$"},
    "CAD": {"$", "C$", "CA$"},
    "AUD": {"$", "A$", "AU$"},
    "NZD": {"$", "NZ$"},
    "CLP": {"$"},
    "ARS": {"$"},
    "MXN": {"$"},
    "TWD": {"$", "NT$"},
    "EUR": {"€"},
    "GBP": {"£"},
    "INR": {"₹", "Rs", "Rs."},
    "PLN": {"zł"},
    "SAR": {"ر.س"},
    "KRW": {"₩", "원", "원~"},
    "KZT": {"₸", "тг."},
    "RUB": {"₽", "руб.", "р."},
    "HRK": {"Kn", "kn"},
    "RON": {"Lei", "lei"},
    "BRL": {"R$"},
    "CHF": {"Fr.", "CHF"},
    "ILS": {"₪"},
    "JPY": {"¥"},
    "CNY": {"¥"},
}


def load_index(corpus_dir: Path) -> list[dict[str, Any]]:
    """Return the corpus index rows in file order."""
    with (corpus_dir / "index.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def read_page(corpus_dir: Path, row: dict[str, Any]) -> str:
    """Return a saved page's HTML, gunzipped and decoded.

    The `encoding` key wins, then the document's meta charset, then UTF-8.
    Undecodable bytes become U+FFFD.
    """
    raw = (corpus_dir / row["file"]).read_bytes()
    if row["file"].endswith(".gz"):
        raw = gzip.decompress(raw)

    encoding = row.get("encoding")
    if not encoding:
        match = _META_CHARSET.search(raw[:8192])
        encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return raw.decode(encoding, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


@dataclass(slots=True)
class FieldScore:
    """True positives, false positives and false negatives for one attribute over many pages."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def add(self, predicted: object, expected: list[Any], matches: bool) -> None:
        if predicted is None:
            if expected:
                self.false_negatives += 1
        elif matches:
            self.true_positives += 1
        else:
            self.false_positives += 1
            if expected:
                self.false_negatives += 1


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _normalized(text: str) -> str:
    return " ".join(text.split())


def product_predictions(product: Product | None) -> dict[str, object]:
    """Return our predictions by PEB attribute name: the product's fields, its first image as `image`."""
    if product is None:
        return {}
    values: dict[str, object] = product.model_dump()
    values["image"] = product.images[0] if product.images else None
    return values


def field_matches(field: str, predicted: object, expected: list[Any]) -> bool:
    """Return whether a prediction equals one of the expected values under the attribute's comparison."""
    if predicted is None:
        return False
    if field == "price":
        amount = _decimal(predicted)
        return amount is not None and any(_decimal(value) == amount for value in expected)
    if field == "currency":
        symbols = LABEL_SYMBOLS.get(str(predicted), set()) | {str(predicted)}
        return any(str(value).strip() in symbols for value in expected)
    if field == "brand":
        return any(
            _normalized(str(value)).casefold() == _normalized(str(predicted)).casefold() for value in expected
        )
    if field in ("name", "description"):
        return any(_normalized(str(value)) == _normalized(str(predicted)) for value in expected)
    return any(str(value).strip() == str(predicted).strip() for value in expected)


def score_pages(
    pages: list[tuple[dict[str, Any], dict[str, object]]], fields: tuple[str, ...]
) -> dict[str, FieldScore]:
    """Score each (index row, predictions by attribute) pair on `fields`.

    PEB's own attributes (price, currency, availability, sku, brand, gtin, mpn)
    count on every PEB page, because a missing key there means "the page shows
    none". The hand-read ones (name, image, description) count only on pages
    labelled with them.
    """
    scores = {field: FieldScore() for field in fields}
    for row, predictions in pages:
        labels = row["labels"]
        is_peb = row["source"] == "scrapinghub/product-extraction-benchmark"
        for field in fields:
            if field not in labels and not (is_peb and field in PEB_FIELDS):
                continue
            expected = labels.get(field, [])
            predicted = predictions.get(field)
            scores[field].add(predicted, expected, field_matches(field, predicted, expected))
    return scores


PEB_FIELDS = ("price", "currency", "availability", "sku", "brand", "gtin", "mpn")
HAND_FIELDS = ("name", "image", "description")


def format_table(scores: dict[str, FieldScore], baselines: dict[str, dict[str, float]]) -> str:
    """Render per-field precision, recall and F1, with baseline F1 columns, as fixed-width text."""
    names = list(baselines)
    header = f"{'field':<13}{'P':>7}{'R':>7}{'F1':>7}{'TP':>5}{'FP':>5}{'FN':>5}" + "".join(
        f"{name:>10}" for name in names
    )
    lines = [header]
    for field, score in scores.items():
        line = (
            f"{field:<13}{score.precision:>7.3f}{score.recall:>7.3f}{score.f1:>7.3f}"
            f"{score.true_positives:>5}{score.false_positives:>5}{score.false_negatives:>5}"
        )
        for name in names:
            value = baselines[name].get(field)
            line += f"{value:>10.3f}" if value is not None else f"{'':>10}"
        lines.append(line)
    return "\n".join(lines)

"""Helpers shared by the tool tests: reading the sandbox's request log, writing small shops."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from product_extractor.sandbox.request_log import BrightDataRecord, RequestRecord


def intervals_by_site(records: list[RequestRecord]) -> dict[str, tuple[float, float]]:
    """Return each site's span of requests: (first start, last end) in monotonic seconds."""
    spans: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.host is None:
            continue
        spans[record.host].extend((record.start_monotonic, record.end_monotonic))
    return {host: (min(times), max(times)) for host, times in spans.items()}


def max_in_flight(records: Sequence[RequestRecord | BrightDataRecord]) -> int:
    """Return how many of `records` were in flight at once, at most; records of one process compare."""
    events = sorted(
        [(record.start_monotonic, 1) for record in records]
        + [(record.end_monotonic, -1) for record in records]
    )
    current = peak = 0
    for _time, change in events:
        current += change
        peak = max(peak, current)
    return peak


def write_generated_shop(folder: Path, host: str, products: int) -> Path:
    """Write a saved-pages folder with `products` small JSON-LD product pages on one site."""
    pages = folder / "pages"
    pages.mkdir(parents=True)
    lines = []
    for number in range(1, products + 1):
        data = {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": f"Test lamp {number}",
            "sku": f"LAMP-{number:03d}",
            "offers": {"@type": "Offer", "price": f"{10 + number}.50", "priceCurrency": "EUR"},
        }
        html = (
            f"<!doctype html><html><head><title>Test lamp {number}</title>"
            f'<script type="application/ld+json">{json.dumps(data)}</script></head>'
            f"<body><h1>Test lamp {number}</h1><p>{10 + number},50 €</p></body></html>"
        )
        (pages / f"lamp-{number}.html").write_text(html, encoding="utf-8")
        lines.append(
            json.dumps(
                {
                    "id": f"lamp-{number}",
                    "kind": "product",
                    "url": f"https://{host}/lamps/lamp-{number}",
                    "file": f"pages/lamp-{number}.html",
                    "encoding": "utf-8",
                    "labels": {
                        "price": [f"{10 + number}.50"],
                        "currency": ["€"],
                        "name": [f"Test lamp {number}"],
                    },
                }
            )
        )
    (folder / "index.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder

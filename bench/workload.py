"""Build the benchmark's saved-pages folder: made-up listing sites whose product pages are real corpus pages.

Each site `https://<host>/` gets product pages at `/p/1` … `/p/N`, cycled from the
corpus's product pages, so parsing costs what it costs on real shop HTML. The
sandbox Bright Data generates each site's listing at `https://<host>/_category`
with the product links in index order.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Scenario:
    """A set of listing sites of the same size, and the job that opens all of their products."""

    name: str
    sites: int
    products_per_site: int

    def host(self, site: int) -> str:
        return f"bench-{self.name.lower()}-site-{site:02d}.example"

    def listing_urls(self) -> list[str]:
        return [f"https://{self.host(site)}/_category" for site in range(1, self.sites + 1)]

    def product_urls(self, listing_url: str) -> list[str]:
        """Return the product URLs of one listing in listing order."""
        host = listing_url.split("/")[2]
        return [f"https://{host}/p/{position}" for position in range(1, self.products_per_site + 1)]


def build_saved_pages(corpus: Path, scenarios: list[Scenario], folder: Path) -> int:
    """Write index.jsonl and the page files for `scenarios` into `folder` and return the corpus pages used.

    The saved-pages loader rejects a `file` outside its folder, symlinks included,
    so each corpus product page is copied once into `folder` and shared by every
    URL that shows it. `folder` must be a temporary directory.
    """
    product_rows = [row for row in _read_index(corpus) if row["kind"] == "product"]
    if not product_rows:
        raise SystemExit(f"{corpus / 'index.jsonl'} lists no product pages, and the benchmark needs some")

    pages_folder = folder / "pages"
    pages_folder.mkdir(parents=True)
    local_files = []
    for number, row in enumerate(product_rows):
        source = corpus / row["file"]
        target = pages_folder / f"{number:04d}-{source.name}"
        shutil.copyfile(source, target)
        local_files.append(target.relative_to(folder).as_posix())

    lines = []
    cursor = 0
    for scenario in scenarios:
        for listing_url in scenario.listing_urls():
            for url in scenario.product_urls(listing_url):
                number = cursor % len(product_rows)
                cursor += 1
                lines.append(_index_line(url, local_files[number], product_rows[number]))

    (folder / "index.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return len(product_rows)


def _read_index(corpus: Path) -> list[dict[str, Any]]:
    text = (corpus / "index.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _index_line(url: str, file: str, row: dict[str, Any]) -> dict[str, Any]:
    # The labels give the generated category page its card names, prices and images.
    line: dict[str, Any] = {
        "id": url.removeprefix("https://").replace("/", "-"),
        "kind": "product",
        "url": url,
        "file": file,
        "labels": row.get("labels") or {},
        "source": f"corpus page {row['id']}",
    }
    if row.get("encoding"):
        line["encoding"] = row["encoding"]
    return line

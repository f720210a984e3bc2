"""Save or compare parse_page output for every saved corpus page, to check that a parser change keeps outputs.

Run from the repository root: `.venv/bin/python bench/parse_snapshot.py save FILE` before a change, then
`.venv/bin/python bench/parse_snapshot.py compare FILE` after it. The snapshot is JSON: one record per page
with its kind, products, product links and next page. `compare` lists the pages that differ and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from product_extractor.products import parse_page  # noqa: E402
from tests.conftest import find_corpus  # noqa: E402
from tests.peb_scoring import load_index, read_page  # noqa: E402


def _snapshot() -> dict[str, Any]:
    """Parse every corpus page and return its output as JSON-ready data, keyed by page id."""
    corpus = find_corpus()
    if corpus is None:
        sys.exit("corpus not found: set PRODUCT_EXTRACTOR_CORPUS to a folder with index.jsonl")
    pages: dict[str, Any] = {}
    for row in load_index(corpus):
        parsed = parse_page(read_page(corpus, row), row["url"])
        pages[row["id"]] = {
            "kind": parsed.kind,
            "products": [product.model_dump(mode="json") for product in parsed.products],
            "product_links": parsed.product_links,
            "next_page_url": parsed.next_page_url,
        }
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("file", type=Path, help="JSON snapshot to write or to compare against")
    arguments = parser.parse_args()

    current = _snapshot()
    if arguments.action == "save":
        arguments.file.write_text(json.dumps(current, indent=1, sort_keys=True), encoding="utf-8")
        print(f"saved {len(current)} pages to {arguments.file}")
        return

    saved = json.loads(arguments.file.read_text(encoding="utf-8"))
    changed = sorted(
        page_id for page_id in saved.keys() | current.keys() if saved.get(page_id) != current.get(page_id)
    )
    for page_id in changed:
        print(f"changed: {page_id}")
    print(f"{len(saved)} pages compared, {len(changed)} changed")
    sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()

"""Time parse_page on every saved corpus page and print median, p90, max and mean milliseconds per page.

Run from the repository root:
`.venv/bin/python bench/parse_speed.py [--repeat N] [--slowest K] [--profile N]`.
Each page is parsed `--repeat` times (3 by default) and its fastest run counts, so a
stray scheduler pause on a shared machine does not land in the figures. The corpus
folder is ../shared/corpus, or $PRODUCT_EXTRACTOR_CORPUS. This is a benchmark, not a test.

`--profile N` parses every page once more under cProfile, counting CPU time rather than
wall time, and prints the N functions with the most time of their own. selectolax's
methods (`css`, `traverse`, `attributes`, `text`) are compiled, so cProfile does not
list them and their time counts towards the function that calls them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from product_extractor.products import parse_page  # noqa: E402
from tests.conftest import find_corpus  # noqa: E402
from tests.peb_scoring import load_index, read_page  # noqa: E402


def _percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of `values` (share 0.9 gives p90)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per page; the fastest counts")
    parser.add_argument("--slowest", type=int, default=5, help="how many of the slowest pages to list")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="then profile one more pass and list the N functions with the most CPU time of their own",
    )
    arguments = parser.parse_args()

    corpus = find_corpus()
    if corpus is None:
        sys.exit("corpus not found: set PRODUCT_EXTRACTOR_CORPUS to a folder with index.jsonl")

    timings: list[tuple[float, str, int]] = []
    product_milliseconds: list[float] = []
    for row in load_index(corpus):
        html = read_page(corpus, row)
        runs = []
        for _ in range(arguments.repeat):
            start = time.perf_counter()
            parse_page(html, row["url"])
            runs.append((time.perf_counter() - start) * 1000)
        timings.append((min(runs), row["id"], len(html)))
        if row.get("kind") == "product":
            product_milliseconds.append(min(runs))

    milliseconds = [entry[0] for entry in timings]
    print(f"pages: {len(milliseconds)}, runs per page: {arguments.repeat} (fastest kept)")
    print(
        f"ms per page: median {statistics.median(milliseconds):.1f}, "
        f"p90 {_percentile(milliseconds, 0.9):.1f}, max {max(milliseconds):.1f}, "
        f"mean {statistics.mean(milliseconds):.1f}, total {sum(milliseconds) / 1000:.2f} s"
    )
    if product_milliseconds:
        print(
            f"product pages ({len(product_milliseconds)}): mean {statistics.mean(product_milliseconds):.1f}, "
            f"median {statistics.median(product_milliseconds):.1f} ms"
        )
    for elapsed, page_id, size in sorted(timings, reverse=True)[: arguments.slowest]:
        print(f"  {page_id:<28}{elapsed:>8.1f} ms{size / 1024:>9.0f} KiB")

    if arguments.profile:
        profiler = cProfile.Profile(time.process_time)
        for row in load_index(corpus):
            html = read_page(corpus, row)
            profiler.enable()
            parse_page(html, row["url"])
            profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(arguments.profile)


if __name__ == "__main__":
    main()

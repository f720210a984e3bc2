"""Measure the parallel speed-up of `extract_products` through the sandbox Bright Data.

Run from the repository root: `make bench`, or `.venv/bin/python bench/parallel.py
[--scale 0.25] [--repeat 3] [--seed 7]` once `.[dev,bench]` is installed. This is a
benchmark, not a test. It prints a table and writes docs/benchmarks.md and
docs/benchmark-timeline.png.

Each scenario runs two ways through the real MCP server (`create_server` with the
`brightdata` backend, driven by the SDK's in-memory `Client` in this process):
one call per URL, one after another, and one call with every URL. The sandbox
Bright Data runs as a separate process, so this process's CPU time is the
server's (and the in-memory client's) alone.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from critical_path import UrlPath, url_paths  # noqa: E402
from mcp import Client  # noqa: E402
from report import Figures, cpu_floor, target_lines, write_report, write_timeline  # noqa: E402
from workload import Scenario, build_saved_pages  # noqa: E402

from product_extractor.server.app import create_server  # noqa: E402
from product_extractor.server.settings import Settings, default_parse_processes  # noqa: E402
from tests.conftest import find_corpus  # noqa: E402

SCENARIOS = [Scenario("A", sites=3, products_per_site=30), Scenario("B", sites=20, products_per_site=50)]
LATENCY_MEDIAN_S = 1.5
LATENCY_SIGMA = 0.5


@dataclass
class Run:
    """One measured run of one way: its timings, billing and the sandbox's request log."""

    wall_seconds: float
    cpu_seconds: float
    sandbox_cpu_seconds: float
    product_pages: int
    billed_requests: int
    tool_billed_requests: int
    call_started: float  # time.monotonic(), which on Linux is the same clock in the sandbox process
    log: list[dict[str, Any]] = field(default_factory=list)
    paths: list[UrlPath] = field(default_factory=list)


def process_cpu_seconds(pid: int) -> float:
    """Return the user and system CPU seconds a live process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(*, exclude: set[int]) -> float:
    """Return the CPU seconds of this process's child processes (the parse workers), except `exclude`.

    Live children are read from /proc (Linux); children already reaped count through
    getrusage. The benchmark's own process time misses the parse workers otherwise.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for children_file in Path("/proc/self/task").glob("*/children"):
        for pid in children_file.read_text().split():
            if int(pid) in exclude:
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the worker exited meanwhile; getrusage counts it once reaped
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime and stime, in clock ticks
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total + reaped.ru_utime + reaped.ru_stime


class Sandbox:
    """The sandbox Bright Data CLI in a child process, and its token-free log and billing endpoints."""

    def __init__(self, pages: Path, *, scale: float, seed: int, stderr_path: Path) -> None:
        self.token = "bench-" + secrets.token_hex(12)  # made up; never printed
        self._stderr = stderr_path.open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "product_extractor.sandbox",
                "brightdata",
                "--pages",
                str(pages),
                "--port",
                "0",
                "--token",
                self.token,
                "--latency-median",
                str(LATENCY_MEDIAN_S),
                "--latency-sigma",
                str(LATENCY_SIGMA),
                "--latency-scale",
                str(scale),
                "--seed",
                str(seed),
            ],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self._process.stdout is not None
        self.pid = self._process.pid
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.close()
            raise SystemExit(f"the sandbox Bright Data did not start; its log is {stderr_path}")
        self._http = httpx.Client(base_url=self.base_url, timeout=30.0)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._stderr.close()

    def clear_log(self) -> None:
        self._http.delete("/_log").raise_for_status()

    def request_log(self) -> list[dict[str, Any]]:
        response = self._http.get("/_log")
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()["requests"]
        return records

    def billed_requests(self) -> int:
        response = self._http.get("/_billing")
        response.raise_for_status()
        return int(response.json()["billed_requests"])


@contextmanager
def running_sandbox(pages: Path, *, scale: float, seed: int, stderr_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox(pages, scale=scale, seed=seed, stderr_path=stderr_path)
    try:
        yield sandbox
    finally:
        sandbox.close()


async def measure(sandbox: Sandbox, scenario: Scenario, *, one_call: bool, parse_processes: int) -> Run:
    """Run `scenario` one way through a fresh server session and return its figures."""
    # WARNING keeps the two INFO lines per URL off the terminal, and they cost nothing measurable.
    # The page cache is off, so both ways fetch and bill every page: with it on, the second
    # way would read the first way's pages from the cache and bill nothing.
    # The run sends about 1,000 requests in seconds. The rate and in-flight limits are set
    # above that, so the benchmark measures fetching, not the limiters.
    settings = Settings(
        brightdata_api_token=sandbox.token,
        brightdata_api_url=sandbox.base_url,
        log_level="WARNING",
        parse_processes=parse_processes,
        no_cache=True,
        brightdata_rate_limit="100000/1s",
        max_in_flight=10_000,
    )
    urls = scenario.listing_urls()
    batches = [urls] if one_call else [[url] for url in urls]
    arguments = {"max_products_per_url": scenario.products_per_site, "backend": "brightdata"}

    sandbox.clear_log()
    billed_before = sandbox.billed_requests()
    async with Client(create_server(settings)) as client:
        cpu_started = time.process_time() + children_cpu_seconds(exclude={sandbox.pid})
        sandbox_cpu_started = process_cpu_seconds(sandbox.pid)
        call_started = time.monotonic()
        results = [
            await client.call_tool("extract_products", {"urls": batch, **arguments}) for batch in batches
        ]
        wall_seconds = time.monotonic() - call_started
        cpu_seconds = time.process_time() + children_cpu_seconds(exclude={sandbox.pid}) - cpu_started
        sandbox_cpu_seconds = process_cpu_seconds(sandbox.pid) - sandbox_cpu_started

    stats = [_structured(result)["stats"] for result in results]
    product_pages = sum(entry["pages_parsed"] for entry in stats) - len(urls)
    log = sandbox.request_log()
    product_urls = {url: scenario.product_urls(url) for url in urls}
    return Run(
        wall_seconds=wall_seconds,
        cpu_seconds=cpu_seconds,
        sandbox_cpu_seconds=sandbox_cpu_seconds,
        product_pages=product_pages,
        billed_requests=sandbox.billed_requests() - billed_before,
        tool_billed_requests=sum(entry["billed_requests"] for entry in stats),
        call_started=call_started,
        log=log,
        paths=url_paths(log, product_urls),
    )


def _structured(result: Any) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = "".join(getattr(block, "text", "") for block in result.content)
        raise SystemExit(f"extract_products failed: {text}")
    structured: dict[str, Any] = result.structured_content
    return structured


def summarise_runs(scenario: Scenario, way: str, runs: list[Run]) -> Figures:
    """Return the median figures of `runs`. The bound sums the URLs for way a and takes the max for way b."""
    sequential = way == "a"
    bounds = [
        sum(path.seconds for path in run.paths) if sequential else max(path.seconds for path in run.paths)
        for run in runs
    ]
    return Figures(
        scenario=scenario,
        way=way,
        runs=len(runs),
        wall_seconds=statistics.median(run.wall_seconds for run in runs),
        bound_seconds=statistics.median(bounds),
        wall_over_bound=statistics.median(
            run.wall_seconds / bound for run, bound in zip(runs, bounds, strict=True)
        ),
        expected_speedup=statistics.median(
            sum(path.seconds for path in run.paths) / max(path.seconds for path in run.paths) for run in runs
        ),
        billed_requests=[run.billed_requests for run in runs],
        tool_billed_requests=[run.tool_billed_requests for run in runs],
        cpu_seconds=statistics.median(run.cpu_seconds for run in runs),
        sandbox_cpu_seconds=statistics.median(run.sandbox_cpu_seconds for run in runs),
        cpu_per_product_page=statistics.median(run.cpu_seconds / run.product_pages for run in runs),
        product_pages=runs[0].product_pages,
    )


def print_table(rows: list[tuple[Figures, Figures]]) -> list[str]:
    """Print the figures and return the FAIL lines."""
    header = (
        f"{'scenario':<18}{'way':<16}{'wall s':>8}{'bound s':>9}{'wall/bound':>11}"
        f"{'speed-up':>10}{'expected':>10}{'billed':>8}{'CPU s':>8}{'CPU ms/page':>12}{'floor s':>9}"
    )
    print(header)
    print("-" * len(header))
    failures = []
    for sequential, parallel in rows:
        label = (
            f"{sequential.scenario.name}: {sequential.scenario.sites}×{sequential.scenario.products_per_site}"
        )
        speedup = sequential.wall_seconds / parallel.wall_seconds
        for figures, way in ((sequential, "a: URL by URL"), (parallel, "b: one call")):
            shown_speedup = f"{speedup:.2f}" if figures is parallel else ""
            shown_expected = f"{parallel.expected_speedup:.2f}" if figures is parallel else ""
            print(
                f"{label:<18}{way:<16}{figures.wall_seconds:>8.2f}{figures.bound_seconds:>9.2f}"
                f"{figures.wall_over_bound:>11.3f}{shown_speedup:>10}{shown_expected:>10}"
                f"{figures.billed_requests[0]:>8}{figures.cpu_seconds:>8.2f}"
                f"{figures.cpu_per_product_page * 1000:>12.1f}{cpu_floor(figures):>9.2f}"
            )
        billed = {*sequential.billed_requests, *parallel.billed_requests}
        billed |= {*sequential.tool_billed_requests, *parallel.tool_billed_requests}
        if len(billed) != 1:
            failures.append(
                f"FAIL scenario {sequential.scenario.name}: billed requests differ: sandbox "
                f"{sequential.billed_requests} URL by URL, {parallel.billed_requests} in one call; tool "
                f"{sequential.tool_billed_requests} and {parallel.tool_billed_requests}"
            )
    for line in failures:
        print(line)
    return failures


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=0.25, help="factor on the sandbox latency (median 1.5 s, sigma 0.5)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of scenario A per way, median reported")
    parser.add_argument("--repeat-b", type=int, default=1, help="runs of scenario B per way, median reported")
    parser.add_argument("--seed", type=int, default=7, help="seed of the sandbox's latency draws")
    parser.add_argument(
        "--parse-processes",
        type=int,
        default=default_parse_processes(),
        help="worker processes that parse pages (the server's parse_processes setting, whose default "
        "this is); 0 parses in threads",
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="print the table only and leave docs/ unchanged"
    )
    return parser.parse_args()


async def run_all(
    arguments: argparse.Namespace, sandbox: Sandbox
) -> tuple[list[tuple[Figures, Figures]], Run]:
    rows = []
    timeline_run: Run | None = None
    for scenario in SCENARIOS:
        repeat = arguments.repeat if scenario.name == "A" else arguments.repeat_b
        sequential_runs, parallel_runs = [], []
        for _ in range(repeat):
            sequential_runs.append(
                await measure(sandbox, scenario, one_call=False, parse_processes=arguments.parse_processes)
            )
            parallel_runs.append(
                await measure(sandbox, scenario, one_call=True, parse_processes=arguments.parse_processes)
            )
        rows.append(
            (summarise_runs(scenario, "a", sequential_runs), summarise_runs(scenario, "b", parallel_runs))
        )
        if scenario.name == "B":
            # The run whose wall time is the median is the one drawn.
            timeline_run = sorted(parallel_runs, key=lambda run: run.wall_seconds)[len(parallel_runs) // 2]
    assert timeline_run is not None
    return rows, timeline_run


def main() -> None:
    arguments = parse_arguments()
    corpus = find_corpus()
    if corpus is None:
        sys.exit("corpus not found: set PRODUCT_EXTRACTOR_CORPUS to a folder with index.jsonl")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="product-extractor-bench-") as temporary:
        pages = Path(temporary) / "saved-pages"
        corpus_pages = build_saved_pages(corpus, SCENARIOS, pages)
        print(
            f"latency: lognormal, median {LATENCY_MEDIAN_S} s × scale {arguments.scale:g}, "
            f"sigma {LATENCY_SIGMA}, seed {arguments.seed}; {corpus_pages} corpus product pages cycled"
        )
        with running_sandbox(
            pages, scale=arguments.scale, seed=arguments.seed, stderr_path=Path(temporary) / "sandbox.log"
        ) as sandbox:
            rows, timeline_run = anyio.run(run_all, arguments, sandbox)

    failures = print_table(rows)
    for line in target_lines(rows):
        print(line.removeprefix("- "))
    elapsed_seconds = time.monotonic() - started
    print(f"benchmark took {elapsed_seconds:.0f} s")
    if not arguments.no_docs:
        timeline = REPO_ROOT / "docs" / "benchmark-timeline.png"
        write_timeline(timeline_run.log, timeline_run.call_started, timeline_run.wall_seconds, timeline)
        write_report(
            REPO_ROOT / "docs" / "benchmarks.md",
            rows,
            scale=arguments.scale,
            seed=arguments.seed,
            parse_processes=arguments.parse_processes,
            corpus_pages=corpus_pages,
            date=datetime.date.today(),
            failures=failures,
            elapsed_seconds=elapsed_seconds,
        )
        print("wrote docs/benchmarks.md and docs/benchmark-timeline.png")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Soak the server: many `extract_products` calls through one server process over stdio, with faults on.

Run from the repository root: `make soak`, or `.venv/bin/python bench/soak.py [--calls 200]
[--every 20]`. This is not a test. It starts the sandbox shop and the sandbox Bright Data on
127.0.0.1 with fault injection and launches `product-extractor serve` once. The calls go
through the MCP SDK's stdio client and rotate through the direct, brightdata and auto
backends, URLs that fail, calls the client cancels, and calls served from the page cache.
Every `--every` calls it prints the server process's resident memory and open file
descriptors. At the end it checks that the server still lists its tool and extracts a page.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from product_extractor.sandbox import (  # noqa: E402
    SAMPLE_SHOP_DIR,
    LognormalLatency,
    RunningBrightData,
    RunningShop,
    running_brightdata,
    running_shop,
)
from tests.conftest import find_corpus  # noqa: E402

# Faults of the sandbox shop: a 500 on one request in ten, 10–80 ms latency.
SHOP_ERROR_RATE = 0.1
SHOP_LATENCY = (0.01, 0.08)
# Faults of the sandbox Bright Data: 502 unlock failures, outer 5xx and a rate limit that
# a burst of calls runs into, over a lognormal latency with a 50 ms median.
UNLOCK_FAILURE_RATE = 0.05
BRIGHTDATA_SERVER_ERROR_RATE = 0.05
BRIGHTDATA_RATE_LIMIT = "40/1s"
BRIGHTDATA_LATENCY = LognormalLatency(median=0.05, sigma=0.5, scale=1.0)
# Every CANCEL_EVERY-th call is cancelled by the client after CANCEL_AFTER_S. Seven and the
# five kinds of call share no factor, so every kind gets cancelled in turn.
CANCEL_EVERY = 7
CANCEL_AFTER_S = 0.3
PRODUCTS_PER_URL = 4
KEPT_JOBS = 10


@dataclass
class Sample:
    """The server process's resource use after a number of calls."""

    calls: int
    rss_kib: int
    open_fds: int
    children: int


def server_pid() -> int:
    """Return the pid of the server process this script started: its child running `serve`."""
    own = str(os.getpid())
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if fields.get("PPid", "").strip() != own:
                continue
            command = (status.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended while this loop read it
        if b"serve" in command:
            return int(status.parent.name)
    raise SystemExit("the server process was not found among this script's children")


def sample(pid: int, calls: int) -> Sample:
    """Read a process's resident memory, open descriptors and child count (its parse workers) from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    descriptors = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    children = sum(len(path.read_text().split()) for path in Path(f"/proc/{pid}/task").glob("*/children"))
    return Sample(calls=calls, rss_kib=rss, open_fds=descriptors, children=children)


def call_plan(shop: RunningShop, brightdata_urls: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Return the rotation of calls: (label, arguments), one entry per kind of call."""
    index = shop.index()
    categories = [site["category_url"] for site in index["sites"] if site["category_url"]]
    products = [url for site in index["sites"] for url in site["product_urls"]]
    missing = f"{shop.base_url}/no-such-site.example/missing-page"
    limit = {"max_products_per_url": PRODUCTS_PER_URL, "timeout_s": 20}
    return [
        ("direct", {"urls": [*categories[:2], missing], "backend": "direct", "no_cache": True, **limit}),
        ("direct, cached", {"urls": categories[:2], "backend": "direct", **limit}),
        ("brightdata", {"urls": brightdata_urls, "backend": "brightdata", "no_cache": True, **limit}),
        ("auto", {"urls": [*products[:3], missing], "backend": "auto", "no_cache": True, **limit}),
        ("bad input", {"urls": ["ftp://shop.example/x"]}),
    ]


async def soak(arguments: argparse.Namespace, shop: RunningShop, brightdata: RunningBrightData) -> int:
    index = shop.index()
    brightdata_urls = [page["url"] for page in index["pages"] if page["kind"] == "product"][:3]
    plan = call_plan(shop, brightdata_urls)
    with tempfile.TemporaryDirectory(prefix="product-extractor-soak-") as cache_dir:
        environment = {
            **os.environ,
            "BRIGHTDATA_API_TOKEN": brightdata.token,
            "PRODUCT_EXTRACTOR_BRIGHTDATA_API_URL": brightdata.base_url,
            "PRODUCT_EXTRACTOR_ALLOW_HOSTS": "127.0.0.1",
            "PRODUCT_EXTRACTOR_CACHE_DIR": cache_dir,
            "PRODUCT_EXTRACTOR_LOG_LEVEL": "ERROR",
            # The job store keeps the last MAX_JOBS results by design. A small store is full
            # after the first sample, so growth after it points at a leak, not at kept results.
            "PRODUCT_EXTRACTOR_MAX_JOBS": str(KEPT_JOBS),
        }
        parameters = StdioServerParameters(
            command=sys.executable, args=["-m", "product_extractor.server", "serve"], env=environment
        )
        samples: list[Sample] = []
        outcomes: dict[str, int] = {}
        started = time.monotonic()
        async with Client(parameters) as client:
            pid = server_pid()
            samples.append(sample(pid, 0))
            print(f"server pid {pid}: {_describe(samples[-1])}")
            for number in range(1, arguments.calls + 1):
                label, call_arguments = plan[(number - 1) % len(plan)]
                if number % CANCEL_EVERY == 0:
                    with anyio.move_on_after(CANCEL_AFTER_S) as scope:
                        await client.call_tool("extract_products", call_arguments)
                    key = (
                        f"{label}: cancelled"
                        if scope.cancelled_caught
                        else f"{label}: done before the cancel"
                    )
                    outcomes[key] = outcomes.get(key, 0) + 1
                else:
                    result = await client.call_tool("extract_products", call_arguments)
                    key = f"{label}: {'tool error' if result.is_error else 'result'}"
                    outcomes[key] = outcomes.get(key, 0) + 1
                if number % arguments.every == 0:
                    samples.append(sample(pid, number))
                    print(f"after {number:>4} calls: {_describe(samples[-1])}", flush=True)

            tools = await client.list_tools()
            final = await client.call_tool(
                "extract_products", {"urls": plan[1][1]["urls"][:1], "max_products_per_url": 2}
            )
        elapsed = time.monotonic() - started

    print(f"{arguments.calls} calls in {elapsed:.0f} s; outcomes:")
    for key, count in sorted(outcomes.items()):
        print(f"  {key}: {count}")
    answered = [tool.name for tool in tools.tools] == ["extract_products"] and not final.is_error
    print(f"the server still answers at the end: {'yes' if answered else 'NO'}")
    # The first sample after the warm-up calls is the baseline: caches, pools and parse
    # workers fill up during the first calls and are meant to stay.
    baseline = samples[1] if len(samples) > 2 else samples[0]
    last = samples[-1]
    print(
        f"from call {baseline.calls} to call {last.calls}: memory {baseline.rss_kib / 1024:.1f} → "
        f"{last.rss_kib / 1024:.1f} MiB ({(last.rss_kib - baseline.rss_kib) / 1024:+.1f}), open descriptors "
        f"{baseline.open_fds} → {last.open_fds} ({last.open_fds - baseline.open_fds:+d})"
    )
    return 0 if answered else 1


def _describe(entry: Sample) -> str:
    return (
        f"memory {entry.rss_kib / 1024:.1f} MiB, open descriptors {entry.open_fds}, "
        f"child processes {entry.children}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="tool calls to make")
    parser.add_argument("--every", type=int, default=20, help="calls between two resource samples")
    parser.add_argument("--seed", type=int, default=3, help="seed of the sandboxes' fault draws")
    arguments = parser.parse_args()
    if arguments.calls < 1 or arguments.every < 1:
        parser.error("--calls and --every must be at least 1")

    pages = find_corpus() or SAMPLE_SHOP_DIR
    print(f"saved pages: {pages}")
    token = secrets.token_hex(16)  # made up for the sandbox; never printed
    with (
        running_shop(pages, latency=SHOP_LATENCY, error_rate=SHOP_ERROR_RATE, seed=arguments.seed) as shop,
        running_brightdata(
            pages,
            token=token,
            latency=BRIGHTDATA_LATENCY,
            seed=arguments.seed,
            rate_limit=BRIGHTDATA_RATE_LIMIT,
            unlock_failure_rate=UNLOCK_FAILURE_RATE,
            server_error_rate=BRIGHTDATA_SERVER_ERROR_RATE,
            snapshot_ready_after=0.5,
        ) as brightdata,
    ):
        sys.exit(anyio.run(soak, arguments, shop, brightdata))


if __name__ == "__main__":
    main()

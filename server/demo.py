"""`product-extractor demo`: the main job end to end, against saved shop pages served on 127.0.0.1.

It starts the sandbox shop, launches this server over stdio as an MCP host would,
calls `extract_products` with three category pages of different sites and one
product page, and prints what came back.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.types import ProgressNotification, TextContent
from rich.console import Console
from rich.table import Table

from product_extractor.sandbox import SAMPLE_SHOP_DIR, LognormalLatency, running_brightdata, running_shop
from product_extractor.server.streaming import BATCH_META_KEY
from product_extractor.web.url_safety import ALLOW_HOSTS_VARIABLE

CATEGORY_URLS = 3
PRODUCTS_PER_CATEGORY = 10
# Seconds of latency the sandbox adds to each request, drawn from this range with a fixed seed,
# so the URLs' requests visibly overlap as they would on real shops.
SHOP_LATENCY = (0.2, 0.6)
BRIGHTDATA_LATENCY_MEDIAN_S = 0.4  # the unlocker is slower than a direct request
TRACE_FOLDER = "traces"  # under the working directory; git ignores it
# The sandbox shop serves every saved site under one host, 127.0.0.1:<port>, where the real
# shops are separate hosts. With the default of 4 requests per host, the three sites would
# share 4 requests at a time, so the demo allows as many as all their product pages.
SANDBOX_MAX_PER_HOST = CATEGORY_URLS * PRODUCTS_PER_CATEGORY
CONSOLE_WIDTH = 140  # when stdout is not a terminal, rich would wrap tables at 80 columns
SANDBOX_HOST = "127.0.0.1"  # where running_shop listens


def default_pages_dir() -> Path:
    """Return ../shared/corpus when it exists beside the working directory, else the bundled sample shop."""
    configured = os.environ.get("PRODUCT_EXTRACTOR_CORPUS")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path.cwd().parent / "shared" / "corpus")
    for candidate in candidates:
        if (candidate / "index.jsonl").is_file():
            return candidate
    return SAMPLE_SHOP_DIR


def choose_urls(index: dict[str, Any]) -> list[str]:
    """Pick the category pages of the sites with the most products, plus a product page of another site."""
    sites = sorted(
        (site for site in index["sites"] if site.get("category_url")),
        key=lambda site: (-len(site["product_urls"]), site["host"]),
    )
    if len(sites) < CATEGORY_URLS:
        raise RuntimeError(
            f"the saved pages give {len(sites)} category pages; the demo needs {CATEGORY_URLS}"
        )
    chosen = [site["category_url"] for site in sites[:CATEGORY_URLS]]

    # A product page of a fourth site when there is one, else the last product of a chosen site.
    others = [site for site in index["sites"] if site not in sites[:CATEGORY_URLS] and site["product_urls"]]
    if others:
        chosen.append(others[0]["product_urls"][0])
    else:
        chosen.append(sites[0]["product_urls"][-1])
    return chosen


async def run_demo(pages: Path | None) -> int:
    """Run the demo and return the process exit status: 0 only when every URL gave products both ways."""
    console = Console(width=None if sys.stdout.isatty() else CONSOLE_WIDTH)
    pages_dir = pages or default_pages_dir()
    console.print(f"Serving saved pages from [bold]{pages_dir}[/bold]")

    trace_dir = Path.cwd() / TRACE_FOLDER
    # The page cache is off, so every run fetches each page for real, which is what the demo
    # shows, and no sandbox page lands in the user's cache.
    common_environment = {"PRODUCT_EXTRACTOR_TRACE_DIR": str(trace_dir), "PRODUCT_EXTRACTOR_NO_CACHE": "true"}

    console.rule("Direct backend: the sandbox shop on 127.0.0.1")
    with running_shop(pages_dir, latency=SHOP_LATENCY, seed=1, host=SANDBOX_HOST) as shop:
        index = shop.index()
        urls = choose_urls(index)
        low, high = SHOP_LATENCY
        console.print(f"Sandbox shop on {shop.base_url}, adding {low:g}-{high:g} s latency per request.")
        # Direct fetching rejects loopback addresses unless they are allowed.
        console.print(f"The server runs with {ALLOW_HOSTS_VARIABLE}={SANDBOX_HOST} to reach it.")
        shop_limits = {"PRODUCT_EXTRACTOR_MAX_PER_HOST": str(SANDBOX_MAX_PER_HOST)}
        direct = await _call_over_stdio(
            console, urls, {**common_environment, ALLOW_HOSTS_VARIABLE: SANDBOX_HOST, **shop_limits}
        )

    console.rule("Bright Data backend: the sandbox Bright Data on 127.0.0.1")
    token = secrets.token_hex(16)
    latency = LognormalLatency(median=BRIGHTDATA_LATENCY_MEDIAN_S, sigma=0.5, scale=1.0)
    with running_brightdata(
        pages_dir, token=token, latency=latency, seed=1, snapshot_ready_after=1.0
    ) as brightdata:
        original_urls = [_original_url(index, url) for url in urls]
        console.print(
            f"Sandbox Bright Data on {brightdata.base_url}, lognormal latency with a "
            f"{BRIGHTDATA_LATENCY_MEDIAN_S:g} s median; the same pages by their original URLs."
        )
        environment = {
            **common_environment,
            "BRIGHTDATA_API_TOKEN": token,
            "PRODUCT_EXTRACTOR_BRIGHTDATA_API_URL": brightdata.base_url,
        }
        paid = await _call_over_stdio(console, original_urls, environment)
        billed = brightdata.billed_requests(), brightdata.billed_records()

    if paid is not None:
        stats = paid["stats"]
        console.print(
            f"Bright Data billed requests: {stats['billed_requests']}, records: {stats['billed_records']} "
            f"(the sandbox counted {billed[0]} and {billed[1]}); estimated cost "
            f"{stats['estimated_cost_usd']:.4f} USD."
        )

    trace_files = sorted(trace_dir.glob("traces-*.jsonl"))
    if trace_files:
        console.print(f"Execution traces, one JSON line per call: {trace_files[-1]}")

    runs = [result for result in (direct, paid) if result is not None]
    gave_products = len(runs) == 2 and all(
        entry["products_found"] > 0 for result in runs for entry in result["url_results"]
    )
    if not gave_products:
        console.print("[red]Some URLs gave no products.[/red]")
    return 0 if gave_products else 1


def _original_url(index: dict[str, Any], sandbox_url: str) -> str:
    """Return the original URL a sandbox shop URL serves, or its category page's original form."""
    for page in index["pages"]:
        if page["sandbox_url"] == sandbox_url:
            return str(page["url"])
    host, _, path = sandbox_url.split("/", 3)[3].partition("/")
    return f"https://{host}/{path}"


async def _call_over_stdio(
    console: Console, urls: list[str], environment: dict[str, str]
) -> dict[str, Any] | None:
    """Launch the server over stdio with `environment` added, call extract_products, and print the result."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "product_extractor.server", "serve"],
        env={**os.environ, "PRODUCT_EXTRACTOR_LOG_LEVEL": "WARNING", **environment},
    )
    console.print("Calling extract_products over stdio with:")
    for url in urls:
        console.print(f"  {url}")
    started = time.monotonic()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        """Progress arrives through on_batch, with its records; a callback is needed only to ask for it."""

    async def on_batch(message: IncomingMessage) -> None:
        if not isinstance(message, ProgressNotification):
            return
        params = message.params
        batch = (params.meta or {}).get(BATCH_META_KEY, {}).get("products", [])
        elapsed = time.monotonic() - started
        console.print(
            f"  [dim]{elapsed:6.2f} s[/dim]  batch of {len(batch):2d}, total {int(params.progress):3d}"
            f"/{int(params.total or 0):3d}  {params.message}"
        )

    async with Client(server, message_handler=on_batch) as client:
        tools = await client.list_tools()
        console.print(f"Server lists tools: {', '.join(tool.name for tool in tools.tools)}")
        started = time.monotonic()
        result = await client.call_tool(
            "extract_products",
            {"urls": urls, "max_products_per_url": PRODUCTS_PER_CATEGORY},
            progress_callback=on_progress,
        )

    if result.is_error or result.structured_content is None:
        text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
        console.print(f"[red]extract_products failed:[/red] {text}")
        return None
    console.print()
    for block in result.content:
        if isinstance(block, TextContent):
            console.print(block.text, markup=False, highlight=False)
    structured: dict[str, Any] = result.structured_content
    _print_result(console, structured)
    return structured


def _print_result(console: Console, result: dict[str, Any]) -> None:
    per_url = Table(title="Per URL")
    for column in (
        "URL",
        "status",
        "kind",
        "products",
        "seconds",
        "requests",
        "backend",
        "billed requests",
        "billed records",
        "cost USD",
    ):
        per_url.add_column(column)
    for entry in result["url_results"]:
        per_url.add_row(
            entry["url"],
            entry["status"],
            entry["page_kind"],
            str(entry["products_found"]),
            f"{entry['seconds']:.2f}",
            str(entry["requests"]),
            entry["backend"],
            str(entry["billed_requests"]),
            str(entry["billed_records"]),
            f"{entry['estimated_cost_usd']:.4f}",
        )
    console.print(per_url)

    products = Table(title="Products")
    for column in ("site", "#", "name", "price", "availability", "by"):
        products.add_column(column)
    for record in result["products"]:
        source = record.get("listing_url") or record["source_url"]
        price = f"{record['price']} {record.get('currency') or ''}" if record.get("price") else "-"
        products.add_row(
            _site_of(source),
            str(record.get("position") or ""),
            (record.get("name") or "-")[:60],
            price,
            record.get("availability") or "-",
            record.get("extracted_by") or "-",
        )
    console.print(products)

    stats = result["stats"]
    console.print(
        f"{stats['products']} products from {stats['urls']} URLs in {stats['wall_seconds']:.2f} s wall time "
        f"({stats['requests']} requests); the slowest URL took "
        f"{max(entry['seconds'] for entry in result['url_results']):.2f} s and the URLs summed to "
        f"{sum(entry['seconds'] for entry in result['url_results']):.2f} s."
    )


def _site_of(url: str) -> str:
    """Return the shop a URL belongs to: its host, or for a sandbox shop URL the host in its path."""
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost"):
        return parts.path.lstrip("/").split("/", 1)[0]
    return parts.netloc

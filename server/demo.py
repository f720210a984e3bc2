"""`product-extractor demo`: the main job end to end, against saved shop pages served on 127.0.0.1.

It starts the sandbox shop, launches this server over stdio as an MCP host would,
calls `extract_products` with three category pages of different sites and one
product page, and prints what came back.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.types import TextContent
from rich.console import Console
from rich.table import Table

from product_extractor.sandbox import SAMPLE_SHOP_DIR, running_shop

CATEGORY_URLS = 3
PRODUCTS_PER_CATEGORY = 10
# Seconds of latency the sandbox adds to each request, drawn from this range with a fixed seed,
# so the URLs' requests visibly overlap as they would on real shops.
SHOP_LATENCY = (0.2, 0.6)
CONSOLE_WIDTH = 140  # when stdout is not a terminal, rich would wrap tables at 80 columns


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
    """Run the demo and return the process exit status: 0 only when every URL gave products."""
    console = Console(width=None if sys.stdout.isatty() else CONSOLE_WIDTH)
    pages_dir = pages or default_pages_dir()
    console.print(f"Serving saved pages from [bold]{pages_dir}[/bold]")

    with running_shop(pages_dir, latency=SHOP_LATENCY, seed=1) as shop:
        urls = choose_urls(shop.index())
        low, high = SHOP_LATENCY
        console.print(
            f"Sandbox shop on {shop.base_url}, adding {low:g}-{high:g} s latency per request; "
            "calling extract_products over stdio with:"
        )
        for url in urls:
            console.print(f"  {url}")

        result = await _call_over_stdio(console, urls)

    if result is None:
        return 1
    _print_result(console, result)
    gave_products = all(entry["products_found"] > 0 for entry in result["url_results"])
    if not gave_products:
        console.print("[red]Some URLs gave no products.[/red]")
    return 0 if gave_products else 1


async def _call_over_stdio(console: Console, urls: list[str]) -> dict[str, Any] | None:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "product_extractor.server", "serve"],
        env={**os.environ, "PRODUCT_EXTRACTOR_LOG_LEVEL": "WARNING"},
    )
    started = time.monotonic()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        elapsed = time.monotonic() - started
        console.print(f"  [dim]{elapsed:6.2f} s[/dim]  total {int(progress):3d}  {message}")

    async with Client(server) as client:
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
    return structured


def _print_result(console: Console, result: dict[str, Any]) -> None:
    per_url = Table(title="Per URL")
    for column in ("URL", "status", "kind", "products", "seconds", "requests"):
        per_url.add_column(column)
    for entry in result["url_results"]:
        per_url.add_row(
            entry["url"],
            entry["status"],
            entry["page_kind"],
            str(entry["products_found"]),
            f"{entry['seconds']:.2f}",
            str(entry["requests"]),
        )
    console.print(per_url)

    products = Table(title="Products")
    for column in ("site", "#", "name", "price", "availability", "by"):
        products.add_column(column)
    for record in result["products"]:
        source = record.get("listing_url") or record["source_url"]
        price = f"{record['price']} {record.get('currency') or ''}" if record.get("price") else "-"
        products.add_row(
            source.split("/")[3] if source.count("/") >= 3 else source,
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

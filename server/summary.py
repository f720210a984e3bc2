"""The short text an agent reads first: per-URL counts, failures, and the first products."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from product_extractor.tools.results import ExtractionResult

PRODUCTS_SHOWN = 10
NAME_WIDTH = 60
URL_WIDTH = 60


def summarise(result: ExtractionResult, *, omitted: int = 0) -> str:
    """Return a compact human summary of `result`; the structured content carries the data."""
    stats = result.stats
    cache_hits = f", {_count(stats.cache_hits, 'page')} from the page cache" if stats.cache_hits else ""
    lines = [
        f"{_count(stats.products, 'product')} from {_count(stats.urls, 'URL')} in {stats.wall_seconds:.1f} s "
        f"({stats.urls_ok} ok, {stats.urls_partial} partial, {stats.urls_failed} failed; "
        f"{stats.requests} requests, {stats.pages_parsed} pages parsed{cache_hits})."
    ]
    if stats.billed_requests or stats.billed_records:
        lines.append(
            f"Backend {stats.backend}: Bright Data billed requests: {stats.billed_requests}, records: "
            f"{stats.billed_records}; estimated cost {stats.estimated_cost_usd:.4f} USD."
        )
    if stats.retries:
        lines.append(
            f"{_retries(stats.retries)} after timeouts, 429 or 5xx responses; the requests include them."
        )
    if stats.cost_cap_reached:
        lines.append("max_cost_usd stopped some URLs early; their entries say so.")
    if stats.job_timed_out:
        lines.append("The server's deadline for a whole call stopped some URLs; their entries say so.")
    if stats.product_limit_reached:
        lines.append("The server's limit of products per call cut some URLs short; their entries say so.")
    if omitted:
        lines.append(
            f"{_count(omitted, 'product')} left out of this result to keep it small; read every product "
            f"from the resource {result.result_uri}?offset=0&limit=50"
        )
    if result.duplicate_urls:
        lines.append(f"Fetched once, given more than once: {', '.join(result.duplicate_urls)}")

    for entry in result.url_results:
        line = (
            f"- {entry.url}: {entry.status}, {_count(entry.products_found, 'product')}, {entry.seconds:.1f} s"
        )
        if entry.backend != "direct":
            line += f", via {entry.backend}"
        if entry.retries:
            line += f", {_retries(entry.retries)}"
        if entry.snapshot_id:
            line += f", dataset snapshot {entry.snapshot_id} still running"
        if entry.error:
            line += f". {entry.error}"
        lines.append(line)

    if result.products:
        lines.append("")
        shown = min(PRODUCTS_SHOWN, len(result.products))
        lines.append(f"First {_count(shown, 'product')} (name | price | availability):")
        lines.extend(_product_line(record) for record in result.products[:PRODUCTS_SHOWN])
    return "\n".join(lines)


def _product_line(record: dict[str, Any]) -> str:
    name = str(record.get("name") or "(no name)")
    if len(name) > NAME_WIDTH:
        name = name[: NAME_WIDTH - 1] + "…"
    price = record.get("price")
    shown_price = f"{price} {record.get('currency') or ''}".strip() if price is not None else "-"
    return f"- {name} | {shown_price} | {record.get('availability') or '-'}"


def progress_line(url: str, found: int, expected: int) -> str:
    """Return the one-line progress message of a URL, e.g. "shop.example/c/lamps: 12/30 products"."""
    return f"{short_url(url)}: {found}/{expected} products"


def short_url(url: str) -> str:
    """Return `url` without its scheme, cut in the middle to `URL_WIDTH` characters.

    The host alone would not tell apart two category pages of one shop.
    """
    parts = urlsplit(url)
    shown = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
    if len(shown) <= URL_WIDTH:
        return shown
    half = (URL_WIDTH - 1) // 2
    return shown[:half] + "…" + shown[-half:]


def _retries(number: int) -> str:
    return "1 retry" if number == 1 else f"{number} retries"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"

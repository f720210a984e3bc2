"""The `product-extractor` command: serve the MCP server, extract from the shell, or run the demo."""

from __future__ import annotations

import json
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import anyio
import typer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, TaskID

from product_extractor.products import Product
from product_extractor.server.app import create_server, describe_validation_error
from product_extractor.server.backends import Backends
from product_extractor.server.demo import run_demo
from product_extractor.server.settings import Settings, SettingsError, load_settings
from product_extractor.tools.arguments import ExtractProductsArguments
from product_extractor.tools.extract import extract_products
from product_extractor.tools.results import ExtractionResult

app = typer.Typer(
    help="An MCP tool server that extracts structured product data from shop URLs.",
    no_args_is_help=True,
    add_completion=False,
)


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def configure_logging(level: str) -> None:
    """Send every log record to stderr, because stdout carries the MCP stdio transport."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx2 logs every request at INFO; the fan-out already logs each URL's start, end and failure.
    logging.getLogger("httpx2").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # stamina logs each scheduled retry as a bare "stamina.retry_scheduled" at WARNING;
    # web.retry logs the same retry with its URL, wait and cause.
    logging.getLogger("stamina").setLevel(logging.ERROR)


@app.command()
def serve(
    transport: Annotated[Transport, typer.Option(help="stdio for an MCP host, http for streamable HTTP")] = (
        Transport.stdio
    ),
    host: Annotated[str, typer.Option(help="address to bind with --transport http")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to bind with --transport http")] = 8000,
) -> None:
    """Run the MCP server (stdio by default)."""
    settings = _settings_or_exit()
    server = create_server(settings)
    configure_logging(settings.log_level)
    if transport is Transport.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


@app.command()
def extract(
    urls: Annotated[list[str], typer.Argument(help="product or listing page URLs")],
    max_products_per_url: Annotated[
        int | None, typer.Option(help="products to open per listing URL (default 30)")
    ] = None,
    timeout_s: Annotated[float | None, typer.Option(help="deadline per URL, seconds (default 120)")] = None,
    fields: Annotated[
        list[str] | None, typer.Option("--field", help="a product field to return; repeat for several")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="fetch every page again instead of reading the page cache")
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            help="direct, brightdata or auto (default: brightdata with BRIGHTDATA_API_TOKEN set, else direct)"
        ),
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option(help="stop starting billed Bright Data requests past this many US dollars")
    ] = None,
) -> None:
    """Extract products without MCP and print the JSON result on stdout, progress on stderr.

    Exits with 1 when every URL failed, 2 on invalid arguments or settings.
    """
    settings = _settings_or_exit()
    configure_logging(settings.log_level)
    try:
        # Options left out keep the argument defaults, which adapt to the server's bounds.
        given = {
            "max_products_per_url": max_products_per_url,
            "timeout_s": timeout_s,
            "fields": fields,
            "no_cache": no_cache or None,
            "backend": backend,
            "max_cost_usd": max_cost_usd,
        }
        arguments = ExtractProductsArguments.model_validate(
            {"urls": urls, **{name: value for name, value in given.items() if value is not None}},
            context={"limits": settings.call_limits()},
        )
    except ValidationError as error:
        typer.echo(describe_validation_error(error), err=True)
        raise typer.Exit(2) from None

    try:
        result = anyio.run(_extract_with_progress, settings, arguments)
    except BackendUnavailable as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    json.dump(result.model_dump(mode="json"), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    if result.stats.urls_failed == result.stats.urls:
        raise typer.Exit(1)


@app.command()
def demo(
    pages: Annotated[
        Path | None,
        typer.Option(
            help="saved-pages folder to serve; default ../shared/corpus, else the bundled sample shop"
        ),
    ] = None,
) -> None:
    """Serve saved shop pages locally, call extract_products over stdio, and print what came back."""
    configure_logging("WARNING")
    raise typer.Exit(anyio.run(run_demo, pages))


class BackendUnavailable(Exception):
    """The requested backend cannot run with these settings, such as Bright Data without a token."""


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


async def _extract_with_progress(settings: Settings, arguments: ExtractProductsArguments) -> ExtractionResult:
    # The server's backends, with the same page cache, retries, request limits and cost meter.
    backends = Backends.open(settings)
    try:
        backend = backends.for_call(
            arguments.backend, max_cost_usd=arguments.max_cost_usd, no_cache=arguments.no_cache
        )
    except ToolError as error:
        await backends.aclose()
        raise BackendUnavailable(str(error)) from None
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        bars: dict[str, TaskID] = {}

        async def report(url: str, _products: list[Product], found: int, expected: int) -> None:
            if url not in bars:
                bars[url] = progress.add_task(urlsplit(url).netloc, total=expected)
            progress.update(bars[url], completed=found, total=expected)

        try:
            return await extract_products(
                arguments,
                backend.fetcher,
                collector=backend.collector,
                pricing=backends.pricing(),
                backend=backend.name,
                options=settings.fan_out_options(),
                on_products=report,
            )
        finally:
            await backends.aclose()


if __name__ == "__main__":
    app()

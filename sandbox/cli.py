"""`python -m product_extractor.sandbox`: the sandbox's subcommands (`shop` now; `brightdata` is planned)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from product_extractor.sandbox.faults import Latency
from product_extractor.sandbox.saved_pages import SAMPLE_SHOP_DIR, SavedPagesError
from product_extractor.sandbox.server import serve_shop

app = typer.Typer(
    help="Local stand-ins for the web on 127.0.0.1, for tests, the demo and benchmarks.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def sandbox() -> None:
    """Local stand-ins for the web on 127.0.0.1, for tests, the demo and benchmarks."""


@app.command()
def shop(
    pages: Annotated[
        Path, typer.Option(help="Saved-pages folder (index.jsonl and the page files) to serve.")
    ] = SAMPLE_SHOP_DIR,
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    latency: Annotated[
        str,
        typer.Option(help="Delay before each page response, in seconds: 0.2, or a range such as 0.05-0.4."),
    ] = "0",
    seed: Annotated[int, typer.Option(help="Seed of the latency and error draws, so runs repeat.")] = 1,
    error_rate: Annotated[
        float, typer.Option(help="Share of page requests that get a 500 response, from 0 to 1.")
    ] = 0.0,
    page_size: Annotated[
        int, typer.Option(help="Product cards per generated category page; 0 puts all on one page.")
    ] = 0,
) -> None:
    """Serve a saved-pages folder as a shop. The first stdout line is the base URL; logs go to stderr."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    try:
        parsed_latency = Latency.parse(latency)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--latency") from error
    if not 0 <= error_rate <= 1:
        raise typer.BadParameter(f"{error_rate} is not a share between 0 and 1", param_hint="--error-rate")
    if page_size < 0:
        raise typer.BadParameter(f"{page_size} is negative; use 0 for one page", param_hint="--page-size")

    try:
        serve_shop(
            pages,
            host=host,
            port=port,
            latency=parsed_latency,
            seed=seed,
            error_rate=error_rate,
            page_size=page_size,
            on_ready=_print_base_url,
        )
    except (SavedPagesError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error


def _print_base_url(base_url: str) -> None:
    print(base_url, flush=True)

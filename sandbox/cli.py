"""`python -m product_extractor.sandbox`: the sandbox's subcommands, `shop` and `brightdata`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from product_extractor.sandbox.brightdata_server import build_brightdata_app, serve_brightdata
from product_extractor.sandbox.faults import Latency, LognormalLatency
from product_extractor.sandbox.saved_pages import SAMPLE_SHOP_DIR, SavedPagesError
from product_extractor.sandbox.server import serve_shop
from product_extractor.sandbox.shop import ALLOW_ALL_ROBOTS_TXT
from product_extractor.sandbox.unlocker_faults import UNLOCK_ERROR_MESSAGES, RateLimit

# The token the brightdata subcommand accepts when neither --token nor
# BRIGHTDATA_API_TOKEN sets one. It guards nothing: the server listens on
# 127.0.0.1 and serves saved pages.
DEFAULT_SANDBOX_TOKEN = "sandbox-token"

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
    robots_txt: Annotated[
        Path | None,
        typer.Option(help="File to serve as /robots.txt for all sites; default allows every page."),
    ] = None,
) -> None:
    """Serve a saved-pages folder as a shop. The first stdout line is the base URL; logs go to stderr.

    Direct fetching rejects 127.0.0.1 by default, so a server or `product-extractor extract`
    that fetches from this shop needs PRODUCT_EXTRACTOR_ALLOW_HOSTS=127.0.0.1.
    """
    _log_to_stderr()

    try:
        parsed_latency = Latency.parse(latency)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--latency") from error
    if not 0 <= error_rate <= 1:
        raise typer.BadParameter(f"{error_rate} is not a share between 0 and 1", param_hint="--error-rate")
    if page_size < 0:
        raise typer.BadParameter(f"{page_size} is negative; use 0 for one page", param_hint="--page-size")
    robots_text = ALLOW_ALL_ROBOTS_TXT
    if robots_txt is not None:
        try:
            robots_text = robots_txt.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            message = f"{robots_txt} could not be read: {error}"
            raise typer.BadParameter(message, param_hint="--robots-txt") from None

    logging.getLogger(__name__).info(
        "direct fetching rejects %s unless it is allowed: set PRODUCT_EXTRACTOR_ALLOW_HOSTS=%s", host, host
    )
    try:
        serve_shop(
            pages,
            host=host,
            port=port,
            latency=parsed_latency,
            seed=seed,
            error_rate=error_rate,
            page_size=page_size,
            robots_txt=robots_text,
            on_ready=_print_base_url,
        )
    except (SavedPagesError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error


@app.command()
def brightdata(
    pages: Annotated[
        Path, typer.Option(help="Saved-pages folder whose pages the Web Unlocker and datasets serve.")
    ] = SAMPLE_SHOP_DIR,
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    token: Annotated[
        str,
        typer.Option(
            envvar="BRIGHTDATA_API_TOKEN",
            show_default=False,
            help=f"API token clients must send as a bearer token [default: {DEFAULT_SANDBOX_TOKEN}].",
        ),
    ] = DEFAULT_SANDBOX_TOKEN,
    zone: Annotated[
        list[str] | None, typer.Option(help="Web Unlocker zone name to accept; repeat for several.")
    ] = None,
    latency_median: Annotated[
        float, typer.Option(help="Median Web Unlocker latency in seconds, before --latency-scale.")
    ] = 1.5,
    latency_sigma: Annotated[
        float, typer.Option(help="Spread of the lognormal latency (sigma of its log).")
    ] = 0.5,
    latency_scale: Annotated[
        float, typer.Option(help="Factor applied to every drawn latency; 0 for none.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the latency, failure and snapshot id draws.")] = 1,
    rate_limit: Annotated[
        str | None, typer.Option(help="Requests per window before 429 sr_rate_limit, such as 50/1s.")
    ] = None,
    quota: Annotated[
        int | None, typer.Option(help="Billed Web Unlocker requests allowed before 403 client_10100.")
    ] = None,
    unlock_failure_rate: Annotated[
        float, typer.Option(help="Share of Web Unlocker requests that fail with a 502 unlock error.")
    ] = 0.0,
    unlock_error_code: Annotated[
        str, typer.Option(help=f"x-brd-error-code of those 502s: {', '.join(UNLOCK_ERROR_MESSAGES)}.")
    ] = "reject_block",
    legacy_error_headers: Annotated[
        bool, typer.Option(help="Also send x-luminati-error and x-luminati-error-code on errors.")
    ] = False,
    server_error_rate: Annotated[
        float, typer.Option(help="Share of Web Unlocker requests that get an outer 500 response.")
    ] = 0.0,
    timeout_rate: Annotated[
        float, typer.Option(help="Share of Web Unlocker requests held for --timeout-seconds, then 502.")
    ] = 0.0,
    timeout_seconds: Annotated[
        float, typer.Option(help="Seconds an injected timeout delays a request before its 502.")
    ] = 180.0,
    sync_scrape_limit: Annotated[
        float, typer.Option(help="Seconds /datasets/v3/scrape waits for records before its 202 response.")
    ] = 60.0,
    snapshot_ready_after: Annotated[
        float, typer.Option(help="Seconds from a dataset trigger until its snapshot is ready.")
    ] = 5.0,
    max_running_jobs: Annotated[
        int | None, typer.Option(help="Running snapshots per dataset before /trigger responds 429.")
    ] = None,
    category_page_size: Annotated[
        int, typer.Option(help="Product cards per generated category page; 0 puts all on one page.")
    ] = 0,
    check_domains: Annotated[
        bool, typer.Option(help="Return error records for dataset inputs outside the dataset's site.")
    ] = False,
) -> None:
    """Serve a stand-in for Bright Data's Web Unlocker and Web Scraper API over a saved-pages folder.

    The first stdout line is the base URL; logs go to stderr.
    """
    _log_to_stderr()

    try:
        latency = LognormalLatency(latency_median, latency_sigma, latency_scale)
        parsed_rate_limit = None if rate_limit is None else RateLimit.parse(rate_limit)
        app = build_brightdata_app(
            pages,
            token=token,
            zones=tuple(zone or ["mcp_unlocker"]),
            latency=latency,
            seed=seed,
            rate_limit=parsed_rate_limit,
            quota=quota,
            unlock_failure_rate=unlock_failure_rate,
            unlock_error_code=unlock_error_code,
            server_error_rate=server_error_rate,
            timeout_rate=timeout_rate,
            timeout_seconds=timeout_seconds,
            legacy_error_headers=legacy_error_headers,
            category_page_size=category_page_size,
            sync_scrape_limit=sync_scrape_limit,
            snapshot_ready_after=snapshot_ready_after,
            max_running_jobs=max_running_jobs,
            check_domains=check_domains,
        )
    except SavedPagesError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error

    try:
        serve_brightdata(app, host=host, port=port, on_ready=_print_base_url)
    except OSError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _print_base_url(base_url: str) -> None:
    print(base_url, flush=True)

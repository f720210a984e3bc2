"""Running the Bright Data stand-in: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from product_extractor.sandbox.brightdata_app import BrightDataApp
from product_extractor.sandbox.dataset_api import DatasetSettings
from product_extractor.sandbox.faults import LognormalLatency
from product_extractor.sandbox.request_log import BrightDataRecord
from product_extractor.sandbox.saved_pages import SAMPLE_SHOP_DIR, SavedPages, load_saved_pages
from product_extractor.sandbox.serving import serve_in_foreground, serve_in_thread
from product_extractor.sandbox.snapshots import SnapshotBehaviour
from product_extractor.sandbox.unlocker import UnlockerSettings
from product_extractor.sandbox.unlocker_faults import RateLimit, UnlockerFault, UnlockerFaultPlan

logger = logging.getLogger(__name__)

_DEFAULT_ERROR_MESSAGE = SnapshotBehaviour().error_message


class RunningBrightData:
    """A Bright Data stand-in serving on `base_url`; its counters, log and faults are reachable in process.

    Point a client at `base_url` in place of https://api.brightdata.com and
    send `token` as the bearer token.
    """

    def __init__(self, app: BrightDataApp, base_url: str, token: str) -> None:
        self.app = app
        self.base_url = base_url
        self.token = token

    def __repr__(self) -> str:
        # The token stays out of reprs, so a failing test's output never shows it.
        return f"RunningBrightData(base_url={self.base_url!r})"

    @property
    def pages(self) -> SavedPages:
        return self.app.pages

    def billed_requests(self) -> int:
        """Return the Web Unlocker requests billed so far: every response with outer status 200."""
        return self.app.billing.totals()[0]

    def billed_records(self) -> int:
        """Return the dataset records billed so far: each record delivered, error records excluded."""
        return self.app.billing.totals()[1]

    def billed_by_target(self) -> dict[str, int]:
        """Return billed requests plus billed records per target URL, as the client sent it."""
        return self.app.billing.totals()[2]

    def reset_billing(self) -> None:
        self.app.billing.reset()

    def request_log(self) -> list[BrightDataRecord]:
        return self.app.log.records()

    def clear_log(self) -> None:
        self.app.log.clear()

    def set_fault(
        self,
        target: str,
        *,
        latency: float | LognormalLatency | None = None,
        unlock_error: str | None = None,
        status: int | None = None,
        target_status: int | None = None,
        timeout: bool = False,
        retry_after: str | None = None,
        burst: int | None = None,
    ) -> None:
        """Override what Web Unlocker requests to `target`, a host or an http(s) URL prefix, get.

        `latency` is seconds (fixed) or a `LognormalLatency`, not scaled.
        `unlock_error` responds 502 with that `x-brd-error-code` (`reject_block`,
        `navigation_timeout`, `http_status`...). `status` responds with that outer
        status as the unlocker's own error. `target_status` makes the target
        respond with it, so the outer status stays 200 unless it is a 5xx, which the
        unlocker turns into a 502 `http_status`. `timeout` holds the request
        for the stand-in's `timeout_seconds`, longer than clients wait.
        `retry_after` is sent as the Retry-After header with `status`. With
        `burst`, only the first `burst` requests to `target` get the fault, and
        later ones are served as usual; setting the fault again starts a new burst.
        """
        if isinstance(latency, int | float):
            latency = LognormalLatency(float(latency))
        fault = UnlockerFault(
            latency=latency,
            unlock_error=unlock_error,
            status=status,
            target_status=target_status,
            timeout=timeout,
            retry_after=retry_after,
            burst=burst,
        )
        self.app.unlocker.faults.set_fault(target, fault)

    def clear_faults(self, target: str | None = None) -> None:
        """Remove the override for `target`, or every override."""
        self.app.unlocker.faults.clear_faults(target)

    def set_quota(self, billed_requests: int | None) -> None:
        """Allow this many billed Web Unlocker requests before 403 `client_10100`; None lifts the limit."""
        self.app.unlocker.quota = billed_requests

    def fail_next_collections(self, status: int, count: int = 1) -> None:
        """Respond `status` to the next `count` /scrape or /trigger calls, before any snapshot is created.

        429 gets Bright Data's "too many running jobs" text, as when a dataset's
        job limit is reached.
        """
        self.app.datasets.fail_next_collections(status, count)

    def set_snapshot_behaviour(
        self,
        outcome: str = "ready",
        *,
        ready_after: float | None = None,
        starting_for: float | None = None,
        progress_404_for: float = 0.0,
        error_message: str | None = None,
    ) -> None:
        """Set how snapshots triggered from now on end: `ready`, `failed`, `empty`, `expired` or `never`.

        `ready_after` (seconds after the trigger, default unchanged) is when
        the job ends. `progress_404_for` makes /progress respond 404 for that
        long after the trigger.
        """
        current = self.app.datasets.behaviour
        self.app.datasets.behaviour = replace(
            current,
            outcome=outcome,
            ready_after=current.ready_after if ready_after is None else ready_after,
            starting_for=starting_for,
            progress_404_for=progress_404_for,
            error_message=error_message or _DEFAULT_ERROR_MESSAGE,
        )


def build_brightdata_app(
    pages_dir: Path | str,
    *,
    token: str,
    zones: tuple[str, ...] = ("mcp_unlocker",),
    latency: float | LognormalLatency = 0.0,
    seed: int = 1,
    rate_limit: str | RateLimit | None = None,
    quota: int | None = None,
    unlock_failure_rate: float = 0.0,
    unlock_error_code: str = "reject_block",
    server_error_rate: float = 0.0,
    server_error_status: int = 500,
    timeout_rate: float = 0.0,
    timeout_seconds: float = 180.0,
    legacy_error_headers: bool = False,
    category_page_size: int = 0,
    sync_scrape_limit: float = 60.0,
    snapshot_ready_after: float = 5.0,
    max_running_jobs: int | None = None,
    check_domains: bool = False,
) -> BrightDataApp:
    """Build the stand-in's app over `pages_dir`; the arguments are those of `running_brightdata`."""
    if not token:
        raise ValueError("token is empty; pass the API token clients must send")
    if not zones:
        raise ValueError("zones is empty; pass at least one Web Unlocker zone name")
    if category_page_size < 0:
        raise ValueError(f"category page size {category_page_size} is invalid; use 0 (one page) or more")

    if isinstance(latency, int | float):
        latency = LognormalLatency(float(latency))
    if isinstance(rate_limit, str):
        rate_limit = RateLimit.parse(rate_limit)
    faults = UnlockerFaultPlan(
        latency=latency,
        seed=seed,
        unlock_failure_rate=unlock_failure_rate,
        unlock_error_code=unlock_error_code,
        server_error_rate=server_error_rate,
        server_error_status=server_error_status,
        timeout_rate=timeout_rate,
    )
    unlocker = UnlockerSettings(
        zones=tuple(zones),
        rate_limit=rate_limit,
        legacy_error_headers=legacy_error_headers,
        timeout_seconds=timeout_seconds,
        category_page_size=category_page_size,
    )
    datasets = DatasetSettings(
        sync_scrape_limit=sync_scrape_limit, max_running_jobs=max_running_jobs, check_domains=check_domains
    )
    return BrightDataApp(
        load_saved_pages(pages_dir),
        token=token,
        unlocker=unlocker,
        faults=faults,
        datasets=datasets,
        snapshot_behaviour=SnapshotBehaviour(ready_after=snapshot_ready_after),
        quota=quota,
        seed=seed,
    )


@contextmanager
def running_brightdata(
    pages_dir: Path | str = SAMPLE_SHOP_DIR,
    *,
    token: str | None = None,
    zones: tuple[str, ...] = ("mcp_unlocker",),
    latency: float | LognormalLatency = 0.0,
    seed: int = 1,
    rate_limit: str | RateLimit | None = None,
    quota: int | None = None,
    unlock_failure_rate: float = 0.0,
    unlock_error_code: str = "reject_block",
    server_error_rate: float = 0.0,
    server_error_status: int = 500,
    timeout_rate: float = 0.0,
    timeout_seconds: float = 180.0,
    legacy_error_headers: bool = False,
    category_page_size: int = 0,
    sync_scrape_limit: float = 60.0,
    snapshot_ready_after: float = 5.0,
    max_running_jobs: int | None = None,
    check_domains: bool = False,
    host: str = "127.0.0.1",
) -> Iterator[RunningBrightData]:
    """Serve a Bright Data stand-in over `pages_dir` on a free port of `host` until the block ends.

    `token` defaults to a random one, read back as `.token`. `latency` is
    seconds or a `LognormalLatency(median, sigma, scale)`; the default 0 keeps
    tests fast. Rates are shares from 0 to 1 drawn from generators seeded by
    `seed`. `rate_limit` is `"50/1s"` or a `RateLimit`; `quota` counts billed
    Web Unlocker requests. See docs/sandbox-brightdata.md for every option.

    >>> with running_brightdata() as brightdata:  # doctest: +SKIP
    ...     httpx2.post(
    ...         f"{brightdata.base_url}/request",
    ...         headers={"Authorization": f"Bearer {brightdata.token}"},
    ...         json={"zone": "mcp_unlocker", "url": "https://www.sample-books.example/search?q=garden",
    ...               "format": "raw"},
    ...     ).headers["x-brd-status-code"]
    '200'
    """
    token = token or secrets.token_hex(16)
    app = build_brightdata_app(
        pages_dir,
        token=token,
        zones=zones,
        latency=latency,
        seed=seed,
        rate_limit=rate_limit,
        quota=quota,
        unlock_failure_rate=unlock_failure_rate,
        unlock_error_code=unlock_error_code,
        server_error_rate=server_error_rate,
        server_error_status=server_error_status,
        timeout_rate=timeout_rate,
        timeout_seconds=timeout_seconds,
        legacy_error_headers=legacy_error_headers,
        category_page_size=category_page_size,
        sync_scrape_limit=sync_scrape_limit,
        snapshot_ready_after=snapshot_ready_after,
        max_running_jobs=max_running_jobs,
        check_domains=check_domains,
    )
    with serve_in_thread(app, host=host, name="sandbox Bright Data") as base_url:
        logger.info("sandbox Bright Data serving %s on %s", pages_dir, base_url)
        yield RunningBrightData(app, base_url, token)


def serve_brightdata(
    app: BrightDataApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` in the foreground until SIGINT or SIGTERM; call `on_ready(base_url)` once bound."""
    serve_in_foreground(app, host=host, port=port, on_ready=on_ready)

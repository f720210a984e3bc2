"""Running the sandbox shop on uvicorn: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from product_extractor.sandbox.body_faults import BodyFault
from product_extractor.sandbox.category import CATEGORY_PATH
from product_extractor.sandbox.faults import Fault, FaultPlan, Latency
from product_extractor.sandbox.links import sandbox_url
from product_extractor.sandbox.request_log import RequestRecord
from product_extractor.sandbox.saved_pages import SAMPLE_SHOP_DIR, SavedPages, load_saved_pages
from product_extractor.sandbox.serving import serve_in_foreground, serve_in_thread
from product_extractor.sandbox.shop import ALLOW_ALL_ROBOTS_TXT, ShopApp

logger = logging.getLogger(__name__)


class RunningShop:
    """A sandbox shop serving on `base_url`, with its request log and faults reachable in process."""

    def __init__(self, app: ShopApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    @property
    def pages(self) -> SavedPages:
        return self.app.pages

    def url_for(self, original_url: str) -> str:
        """Return the sandbox URL serving the page saved from `original_url`."""
        return sandbox_url(self.base_url, original_url)

    def category_url(self, host: str) -> str:
        return f"{self.base_url}/{host.lower()}/{CATEGORY_PATH}"

    def index(self) -> dict[str, Any]:
        """Return what GET /_index returns."""
        return self.app.index(self.base_url)

    def request_log(self) -> list[RequestRecord]:
        return self.app.log.records()

    def clear_log(self) -> None:
        self.app.log.clear()

    def set_fault(
        self,
        target: str,
        *,
        latency: float | tuple[float, float] | None = None,
        status: int | None = None,
        error_rate: float | None = None,
        retry_after: str | None = None,
        burst: int | None = None,
        spike_rate: float | None = None,
        spike_s: float = 0.0,
        body: BodyFault | None = None,
    ) -> None:
        """Change latency (seconds or a low-high range), status, error rate or body under a host or prefix.

        `target` is a host (`www.sample-books.example`) or a path starting with
        `/`. A latency longer than the client's timeout simulates a timeout. The
        response comes after the latency, or as a 503 when the shop stops first.
        `retry_after` is sent as the Retry-After header with `status`. With
        `burst`, only the first `burst` requests under `target` get `status`, and
        later ones are served as usual; setting the fault again starts a new burst.
        `spike_rate` adds `spike_s` seconds to that share of requests, and `body`
        damages the pages served (sandbox/body_faults.py lists the faults).
        """
        fault = Fault(
            latency=None if latency is None else Latency.coerce(latency),
            status=status,
            error_rate=error_rate,
            retry_after=retry_after,
            burst=burst,
            spike_rate=spike_rate,
            spike_s=spike_s,
            body=body,
        )
        self.app.faults.set_fault(target, fault)

    def clear_faults(self, target: str | None = None) -> None:
        """Remove the fault for `target`, or every fault."""
        self.app.faults.clear_faults(target)

    def set_robots_txt(self, body: str, *, status: int = 200) -> None:
        """Serve `body` as the shop's one /robots.txt, with `status`; rules name sandbox paths.

        All sites share the host, so a rule for one site names its path prefix,
        as in `Disallow: /www.sample-books.example/search`.
        """
        self.app.set_robots_txt(body, status=status)


@contextmanager
def running_shop(
    pages_dir: Path | str = SAMPLE_SHOP_DIR,
    *,
    latency: float | tuple[float, float] = 0.0,
    seed: int = 1,
    error_rate: float = 0.0,
    page_size: int = 0,
    host: str = "127.0.0.1",
    robots_txt: str = ALLOW_ALL_ROBOTS_TXT,
) -> Iterator[RunningShop]:
    """Serve `pages_dir` on a free port of `host` in a background thread until the block ends.

    >>> with running_shop() as shop:  # doctest: +SKIP
    ...     httpx2.get(shop.category_url("www.sample-books.example")).status_code
    200
    """
    faults = FaultPlan(latency=Latency.coerce(latency), error_rate=error_rate, seed=seed)
    app = ShopApp(load_saved_pages(pages_dir), faults=faults, page_size=page_size, robots_txt=robots_txt)
    with serve_in_thread(app, host=host, name="sandbox shop") as base_url:
        logger.info("sandbox shop serving %s on %s", pages_dir, base_url)
        yield RunningShop(app, base_url)


def serve_shop(
    pages_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: Latency | None = None,
    seed: int = 1,
    error_rate: float = 0.0,
    page_size: int = 0,
    robots_txt: str = ALLOW_ALL_ROBOTS_TXT,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `pages_dir` in the foreground until SIGINT or SIGTERM; call `on_ready(base_url)` once bound."""
    faults = FaultPlan(latency=latency, error_rate=error_rate, seed=seed)
    app = ShopApp(load_saved_pages(pages_dir), faults=faults, page_size=page_size, robots_txt=robots_txt)
    serve_in_foreground(app, host=host, port=port, on_ready=on_ready)

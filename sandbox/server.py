"""Running the sandbox shop on uvicorn: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from product_extractor.sandbox.category import CATEGORY_PATH
from product_extractor.sandbox.faults import Fault, FaultPlan, Latency
from product_extractor.sandbox.links import sandbox_url
from product_extractor.sandbox.request_log import RequestRecord
from product_extractor.sandbox.saved_pages import SAMPLE_SHOP_DIR, SavedPages, load_saved_pages
from product_extractor.sandbox.shop import ShopApp

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT = 10.0  # seconds to wait for the port to accept connections
_SHUTDOWN_TIMEOUT = 5.0  # seconds to wait for the server thread before forcing it to exit

# In-flight requests get this long (seconds) to finish when the server stops.
# Injected delays end at once, so only a slow client can use it up.
_GRACEFUL_SHUTDOWN_TIMEOUT = 1


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
    ) -> None:
        """Change latency (seconds, or a low-high range), status or error rate under a host or path prefix.

        `target` is a host (`www.sample-books.example`) or a path starting with
        `/`. A latency longer than the client's timeout simulates a timeout. The
        response comes after the latency, or as a 503 when the shop stops first.
        """
        fault = Fault(
            latency=None if latency is None else Latency.coerce(latency),
            status=status,
            error_rate=error_rate,
        )
        self.app.faults.set_fault(target, fault)

    def clear_faults(self, target: str | None = None) -> None:
        """Remove the fault for `target`, or every fault."""
        self.app.faults.clear_faults(target)


@contextmanager
def running_shop(
    pages_dir: Path | str = SAMPLE_SHOP_DIR,
    *,
    latency: float | tuple[float, float] = 0.0,
    seed: int = 1,
    error_rate: float = 0.0,
    page_size: int = 0,
    host: str = "127.0.0.1",
) -> Iterator[RunningShop]:
    """Serve `pages_dir` on a free port of `host` in a background thread until the block ends.

    >>> with running_shop() as shop:  # doctest: +SKIP
    ...     httpx2.get(shop.category_url("www.sample-books.example")).status_code
    200
    """
    faults = FaultPlan(latency=Latency.coerce(latency), error_rate=error_rate, seed=seed)
    app = ShopApp(load_saved_pages(pages_dir), faults=faults, page_size=page_size)
    listener = bind_socket(host, 0)
    base_url = _base_url_of(listener)

    server = uvicorn.Server(_uvicorn_config(app, access_log=False))
    loop_ready = threading.Event()
    loop_holder: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loop_holder.append(asyncio.get_running_loop())
        loop_ready.set()
        await server.serve(sockets=[listener])

    thread = threading.Thread(
        target=asyncio.run, args=(serve(),), name=f"sandbox-shop {base_url}", daemon=True
    )
    thread.start()
    try:
        _wait_until_serving(server, thread, listener.getsockname()[:2])
        logger.info("sandbox shop serving %s on %s", pages_dir, base_url)
        yield RunningShop(app, base_url)
    finally:
        if loop_ready.wait(timeout=_SHUTDOWN_TIMEOUT) and thread.is_alive():
            loop_holder[0].call_soon_threadsafe(app.stop_waiting)
        server.should_exit = True
        thread.join(timeout=_SHUTDOWN_TIMEOUT)
        if thread.is_alive():
            logger.warning("sandbox shop on %s did not stop in %s s; forcing it", base_url, _SHUTDOWN_TIMEOUT)
            server.force_exit = True
            thread.join(timeout=_SHUTDOWN_TIMEOUT)
        listener.close()


def serve_shop(
    pages_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: Latency | None = None,
    seed: int = 1,
    error_rate: float = 0.0,
    page_size: int = 0,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `pages_dir` in the foreground until SIGINT or SIGTERM; call `on_ready(base_url)` once bound."""
    faults = FaultPlan(latency=latency, error_rate=error_rate, seed=seed)
    app = ShopApp(load_saved_pages(pages_dir), faults=faults, page_size=page_size)
    listener = bind_socket(host, port)
    base_url = _base_url_of(listener)
    if on_ready is not None:
        on_ready(base_url)

    server = uvicorn.Server(_uvicorn_config(app, access_log=True))
    try:
        server.run(sockets=[listener])
    finally:
        listener.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on `host`:`port`; port 0 picks a free one, which `getsockname()` then shows."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # asyncio turns on TCP_NODELAY only for sockets whose proto is IPPROTO_TCP
    # (base_events._set_nodelay in Python 3.11). With proto 0, each response
    # here waited about 40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise OSError(
            f"cannot bind the sandbox shop to {host}:{port} ({error}); pick another --port"
        ) from error
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


def _uvicorn_config(app: ShopApp, *, access_log: bool) -> uvicorn.Config:
    # log_config=None leaves logging to the caller, so uvicorn's access log
    # does not go to stdout, where the CLI prints only its base URL.
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=access_log,
        lifespan="off",
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_TIMEOUT,
    )


def _base_url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _wait_until_serving(server: uvicorn.Server, thread: threading.Thread, address: tuple[str, int]) -> None:
    """Block until uvicorn has started and the port accepts a connection, or raise RuntimeError."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(
                f"the sandbox shop on {address[0]}:{address[1]} exited during start-up; see its log"
            )
        if server.started:
            try:
                with socket.create_connection(address, timeout=0.5):
                    return
            except OSError:
                pass
        time.sleep(0.01)
    raise RuntimeError(f"the sandbox shop on {address[0]}:{address[1]} did not start in {_STARTUP_TIMEOUT} s")

"""Running a sandbox ASGI app on uvicorn: in a background thread for tests, or in the foreground for the CLI.

Both sandbox servers (the shop and the Bright Data stand-in) hold requests for
injected delays. An app passed here exposes `stop_waiting()`, which ends those
delays when the server stops, so shutting down never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import anyio
import uvicorn
from starlette.types import Receive, Scope, Send

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT = 10.0  # seconds to wait for the port to accept connections
_SHUTDOWN_TIMEOUT = 5.0  # seconds to wait for the server thread before forcing it to exit

# In-flight requests get this long (seconds) to finish when the server stops.
# Injected delays end at once, so only a slow client can use it up.
_GRACEFUL_SHUTDOWN_TIMEOUT = 1


class StoppableApp(Protocol):
    """An ASGI app whose injected delays `stop_waiting()` ends, called on the server's event loop."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    def stop_waiting(self) -> None: ...


class InjectedDelays:
    """Sleeps for injected latency that end at once when the server stops."""

    def __init__(self) -> None:
        self._stopping: anyio.Event | None = None
        self._stopped = False

    def stop(self) -> None:
        """End every pending delay now and skip later ones; call from the server's event loop."""
        self._stopped = True
        if self._stopping is not None:
            self._stopping.set()

    async def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; return False when the server began stopping first."""
        if self._stopped:
            return False
        if seconds <= 0:
            return True
        if self._stopping is None:
            self._stopping = anyio.Event()
        with anyio.move_on_after(seconds):
            await self._stopping.wait()
            return False
        return True


@contextmanager
def serve_in_thread(app: StoppableApp, *, host: str, name: str) -> Iterator[str]:
    """Serve `app` on a free port of `host` in a daemon thread until the block ends; yield the base URL."""
    listener = bind_socket(host, 0)
    base_url = base_url_of(listener)

    server = uvicorn.Server(_uvicorn_config(app, access_log=False))
    loop_ready = threading.Event()
    loop_holder: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loop_holder.append(asyncio.get_running_loop())
        loop_ready.set()
        await server.serve(sockets=[listener])

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name=f"{name} {base_url}", daemon=True)
    thread.start()
    try:
        _wait_until_serving(server, thread, listener.getsockname()[:2], name)
        yield base_url
    finally:
        if loop_ready.wait(timeout=_SHUTDOWN_TIMEOUT) and thread.is_alive():
            loop_holder[0].call_soon_threadsafe(app.stop_waiting)
        server.should_exit = True
        thread.join(timeout=_SHUTDOWN_TIMEOUT)
        if thread.is_alive():
            logger.warning("%s on %s did not stop in %s s; forcing it", name, base_url, _SHUTDOWN_TIMEOUT)
            server.force_exit = True
            thread.join(timeout=_SHUTDOWN_TIMEOUT)
        listener.close()


def serve_in_foreground(
    app: StoppableApp, *, host: str, port: int, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve `app` until SIGINT or SIGTERM; call `on_ready(base_url)` once the port is bound."""
    listener = bind_socket(host, port)
    if on_ready is not None:
        on_ready(base_url_of(listener))

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
        raise OSError(f"cannot bind the sandbox to {host}:{port} ({error}); pick another --port") from error
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


def base_url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_config(app: StoppableApp, *, access_log: bool) -> uvicorn.Config:
    # log_config=None leaves logging to the caller, so uvicorn's access log
    # does not go to stdout, where the CLI prints only its base URL.
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=access_log,
        lifespan="off",
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_TIMEOUT,
    )


def _wait_until_serving(
    server: uvicorn.Server, thread: threading.Thread, address: tuple[str, int], name: str
) -> None:
    """Block until uvicorn has started and the port accepts a connection, or raise RuntimeError."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the {name} on {address[0]}:{address[1]} exited during start-up; see its log")
        if server.started:
            try:
                with socket.create_connection(address, timeout=0.5):
                    return
            except OSError:
                pass
        time.sleep(0.01)
    raise RuntimeError(f"the {name} on {address[0]}:{address[1]} did not start in {_STARTUP_TIMEOUT} s")

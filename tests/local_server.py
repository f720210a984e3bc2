"""Run an ASGI app on a free 127.0.0.1 port in a background thread, for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a server certificate and its private key."""

    certfile: str
    keyfile: str


@contextmanager
def serve_app(app: ASGIApp, *, certificate: TLSFiles | None = None) -> Iterator[str]:
    """Serve `app` until the block ends and yield its base URL; HTTPS with `certificate`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    tls: dict[str, str] = {}
    if certificate is not None:
        tls = {"ssl_certfile": certificate.certfile, "ssl_keyfile": certificate.keyfile}
    config = uvicorn.Config(app, log_level="warning", lifespan="off", **tls)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"{'https' if certificate else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()

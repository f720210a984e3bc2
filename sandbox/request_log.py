"""The sandbox shop's record of the requests it served, and the ASGI middleware that writes it."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One served request. Monotonic times compare only within the shop's own process."""

    method: str
    path: str  # path and query string as requested, percent-encoding kept
    host: str | None  # the saved site the path belongs to; None for /, /_index and /_log
    status: int
    start_monotonic: float  # seconds, time.monotonic()
    end_monotonic: float
    start_time: float  # seconds since the epoch, time.time()
    end_time: float

    @property
    def duration(self) -> float:
        return self.end_monotonic - self.start_monotonic

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A thread-safe list of `RequestRecord`s, in the order the requests finished."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class RequestLogMiddleware:
    """Records every HTTP request except those to /_log, so reading the log does not change it."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/_log":
            await self.app(scope, receive, send)
            return

        start_monotonic, start_time = time.monotonic(), time.time()
        status = 500  # stays 500 when the app raises before it starts a response

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.log.append(
                RequestRecord(
                    method=scope["method"],
                    path=_raw_path_and_query(scope),
                    host=site_host_of(scope["path"]),
                    status=status,
                    start_monotonic=start_monotonic,
                    end_monotonic=time.monotonic(),
                    start_time=start_time,
                    end_time=time.time(),
                )
            )


def site_host_of(path: str) -> str | None:
    """Return the site host a sandbox path is under: its first segment, unless that starts with _."""
    first = path.lstrip("/").split("/", 1)[0]
    if not first or first.startswith("_"):
        return None
    return first.lower()


def _raw_path_and_query(scope: Scope) -> str:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    return (raw_path + (b"?" + query if query else b"")).decode("latin-1")

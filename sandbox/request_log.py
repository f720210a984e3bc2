"""The sandbox servers' records of the requests they served, and the ASGI middleware that writes them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One served request. Monotonic times compare only within the shop's own process."""

    method: str
    path: str  # path and query string as requested, percent-encoding kept
    host: str | None  # the saved site the path belongs to; None for /, /_index, /_log and /robots.txt
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


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """When one request started and finished, as both clocks read them in the server's process."""

    start_monotonic: float  # seconds, time.monotonic()
    end_monotonic: float
    start_time: float  # seconds since the epoch, time.time()
    end_time: float


RecordT = TypeVar("RecordT")


class RequestLog(Generic[RecordT]):
    """A thread-safe list of request records, in the order the requests finished."""

    def __init__(self) -> None:
        self._records: list[RecordT] = []
        self._lock = threading.Lock()

    def append(self, record: RecordT) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RecordT]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class RequestLogMiddleware(Generic[RecordT]):
    """Times every HTTP request and appends the record `build_record` makes of it; None skips it.

    `build_record(scope, status, timing)` runs just before the last body chunk
    is sent (or after the app fails), so it can read notes the app left in the
    scope, and a client holding its response finds the request in the log.
    """

    def __init__(
        self,
        app: ASGIApp,
        log: RequestLog[RecordT],
        build_record: Callable[[Scope, int, RequestTiming], RecordT | None],
    ) -> None:
        self.app = app
        self.log = log
        self.build_record = build_record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        start_monotonic, start_time = time.monotonic(), time.time()
        status = 500  # stays 500 when the app raises before it starts a response
        recorded = False

        def record_request() -> None:
            nonlocal recorded
            recorded = True
            timing = RequestTiming(start_monotonic, time.monotonic(), start_time, time.time())
            record = self.build_record(scope, status, timing)
            if record is not None:
                self.log.append(record)

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            # Recording before the last body chunk goes out means a client
            # that has its response finds the request in the log.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record_request()
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            if not recorded:
                record_request()


def shop_request_record(scope: Scope, status: int, timing: RequestTiming) -> RequestRecord | None:
    """Return the shop's record of one request; skip /_log, so reading the log does not change it."""
    if scope["path"] == "/_log":
        return None
    return RequestRecord(
        method=scope["method"],
        path=raw_path_and_query(scope),
        host=site_host_of(scope["path"]),
        status=status,
        start_monotonic=timing.start_monotonic,
        end_monotonic=timing.end_monotonic,
        start_time=timing.start_time,
        end_time=timing.end_time,
    )


def site_host_of(path: str) -> str | None:
    """Return the site host a sandbox path is under: its first segment, unless that starts with _.

    /robots.txt belongs to the whole shop, not to a site.
    """
    first = path.lstrip("/").split("/", 1)[0]
    if not first or first.startswith("_") or path == "/robots.txt":
        return None
    return first.lower()


def raw_path_and_query(scope: Scope) -> str:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    return (raw_path + (b"?" + query if query else b"")).decode("latin-1")


@dataclass(frozen=True, slots=True)
class BrightDataRecord:
    """One request the Bright Data stand-in served. Monotonic times compare only within its own process."""

    method: str
    path: str  # API path and query string as requested, such as /request or /datasets/v3/trigger?...
    status: int  # the outer status the API returned
    zone: str | None  # the Web Unlocker zone; None for other endpoints
    target_url: str | None  # the URL the Web Unlocker request asked for, as sent
    target_status: int | None  # the target's status (x-brd-status-code); None when no target responded
    error_code: str | None  # x-brd-error-code or x-brd-err-code of an error the API generated
    billed: bool  # whether this request cost a billed request or billed records
    billed_records: int  # dataset records billed by this request
    delay: float  # injected latency in seconds
    dataset_id: str | None
    snapshot_id: str | None
    start_monotonic: float  # seconds, time.monotonic()
    end_monotonic: float
    start_time: float  # seconds since the epoch, time.time()
    end_time: float

    @property
    def duration(self) -> float:
        return self.end_monotonic - self.start_monotonic

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

"""Parts the Bright Data stand-in's endpoints share: auth, billing counters and per-request notes."""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from product_extractor.sandbox.request_log import BrightDataRecord, RequestTiming, raw_path_and_query

# The key under which a request's `RequestNote` travels in the ASGI scope,
# from the endpoint that fills it to the middleware that logs it.
_NOTE_KEY = "product_extractor.sandbox.note"

# Paths of the stand-in's own helpers; the real API has nothing here.
SANDBOX_PATHS = ("/_log", "/_billing")


@dataclass(slots=True)
class RequestNote:
    """Facts an endpoint found about one request, for the request log."""

    zone: str | None = None
    target_url: str | None = None
    target_status: int | None = None
    error_code: str | None = None
    billed: bool = False
    billed_records: int = 0
    delay: float = 0.0
    dataset_id: str | None = None
    snapshot_id: str | None = None


def note_of(request: Request) -> RequestNote:
    """Return the note of `request`, creating it on first use."""
    note: RequestNote = request.scope.setdefault(_NOTE_KEY, RequestNote())
    return note


def brightdata_request_record(scope: Scope, status: int, timing: RequestTiming) -> BrightDataRecord | None:
    """Return the log record of one API request; the sandbox's own /_log and /_billing are skipped."""
    if scope["path"] in SANDBOX_PATHS:
        return None
    note: RequestNote = scope.get(_NOTE_KEY) or RequestNote()
    return BrightDataRecord(
        method=scope["method"],
        path=raw_path_and_query(scope),
        status=status,
        zone=note.zone,
        target_url=note.target_url,
        target_status=note.target_status,
        error_code=note.error_code,
        billed=note.billed,
        billed_records=note.billed_records,
        delay=note.delay,
        dataset_id=note.dataset_id,
        snapshot_id=note.snapshot_id,
        start_monotonic=timing.start_monotonic,
        end_monotonic=timing.end_monotonic,
        start_time=timing.start_time,
        end_time=timing.end_time,
    )


@dataclass
class Billing:
    """Billed Web Unlocker requests and dataset records, in total and per target URL; thread-safe."""

    requests: int = 0
    records: int = 0
    by_target: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bill_request(self, target_url: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_target[target_url] += 1

    def bill_records(self, target_url: str, count: int) -> None:
        with self._lock:
            self.records += count
            self.by_target[target_url] += count

    def totals(self) -> tuple[int, int, dict[str, int]]:
        """Return billed requests, billed records, and billed units per target URL."""
        with self._lock:
            return self.requests, self.records, dict(self.by_target)

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.records = 0
            self.by_target.clear()


def reject_unauthenticated(request: Request, token: str) -> Response | None:
    """Return the 401 response Bright Data sends for a missing or wrong API token, or None when it matches.

    The live API responds with text/html and no x-brd headers. The token itself is
    never echoed or logged.
    """
    header = request.headers.get("authorization")
    if not header:
        return Response("User authentication is required", status_code=401, media_type="text/html")

    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        return Response("Invalid credentials", status_code=401, media_type="text/html")
    return None

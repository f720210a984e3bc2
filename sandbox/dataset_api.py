"""The Web Scraper API (datasets v3) endpoints of the Bright Data stand-in.

`/scrape` collects synchronously within `sync_scrape_limit` seconds, else it
responds 202 with a snapshot id to poll. `/trigger` always returns a snapshot
id; `/progress` and `/snapshot` then report the snapshot's status and records.
Records come from the saved pages (see dataset_records.py); an input the
folder has no product page for becomes an error record.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from product_extractor.sandbox.brightdata_state import Billing, note_of, reject_unauthenticated
from product_extractor.sandbox.dataset_records import (
    DATASETS,
    Dataset,
    build_record,
    error_record,
    is_error_record,
)
from product_extractor.sandbox.saved_pages import SavedPages
from product_extractor.sandbox.serving import InjectedDelays
from product_extractor.sandbox.snapshots import RUNNING_STATUSES, Snapshot, SnapshotBehaviour, SnapshotStore

logger = logging.getLogger(__name__)

# Texts of the real API's 202 replies.
_STILL_IN_PROGRESS = (
    "Your request is still in progress and cannot be retrieved in this call. Use the provided Snapshot ID "
    "to track progress via the Monitor Snapshot endpoint and download it once ready via the Download "
    "Snapshot endpoint."
)
_NOT_READY = "Snapshot is not ready yet, try again in 10s"

DOWNLOAD_FORMATS = ("json", "ndjson", "jsonl")


@dataclass(frozen=True, slots=True)
class DatasetSettings:
    """Fixed settings of the dataset endpoints."""

    sync_scrape_limit: float = 60.0  # seconds /scrape waits for records before its 202
    max_sync_inputs: int = 20  # inputs /scrape accepts
    max_running_jobs: int | None = None  # running snapshots per dataset before /trigger responds 429
    check_domains: bool = False  # reject inputs whose host is not the dataset's site


class DatasetEndpoints:
    """Serves /datasets/v3/*; `behaviour` may be replaced from another thread."""

    def __init__(
        self,
        pages: SavedPages,
        *,
        token: str,
        settings: DatasetSettings,
        billing: Billing,
        delays: InjectedDelays,
        snapshots: SnapshotStore,
        behaviour: SnapshotBehaviour,
    ) -> None:
        self.pages = pages
        self.settings = settings
        self.billing = billing
        self.snapshots = snapshots
        self.behaviour = behaviour
        self._token = token
        self._delays = delays
        self._injected_failures: deque[int] = deque()  # statuses for the next /scrape and /trigger calls
        self._failures_lock = threading.Lock()

    def fail_next_collections(self, status: int, count: int = 1) -> None:
        """Respond `status` to the next `count` /scrape or /trigger calls, before a snapshot is created.

        A 429 gets the "too many running jobs" text; other statuses a short error text.
        """
        if count < 1:
            raise ValueError(f"count={count} is invalid; use 1 or more")
        with self._failures_lock:
            self._injected_failures.extend([status] * count)

    async def scrape(self, request: Request) -> Response:
        started = await self._start_collection(request, max_inputs=self.settings.max_sync_inputs)
        if isinstance(started, Response):
            return started
        snapshot, include_errors, single = started

        behaviour = snapshot.behaviour
        limit = self.settings.sync_scrape_limit
        if behaviour.outcome == "never" or behaviour.ready_after > limit:
            if not await self._delays.wait(limit):
                return PlainTextResponse("The sandbox is shutting down", status_code=503)
            return JSONResponse({"snapshot_id": snapshot.id, "message": _STILL_IN_PROGRESS}, status_code=202)

        if not await self._delays.wait(behaviour.ready_after):
            return PlainTextResponse("The sandbox is shutting down", status_code=503)
        if snapshot.status() == "failed":
            # NOTE: how the real /scrape reports a failed collection is not documented.
            body = {"snapshot_id": snapshot.id, "error": snapshot.error_message()}
            return JSONResponse(body, status_code=500)

        records = self._deliver(request, snapshot, include_errors, request.query_params)
        if single and len(records) == 1:
            return JSONResponse(records[0])
        return JSONResponse(records)

    async def trigger(self, request: Request) -> Response:
        started = await self._start_collection(request, max_inputs=None)
        if isinstance(started, Response):
            return started
        snapshot, _include_errors, _single = started
        return JSONResponse({"snapshot_id": snapshot.id})

    async def progress(self, request: Request) -> Response:
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected
        snapshot = self._find(request)
        if snapshot is None or snapshot.hidden_from_progress():
            return PlainTextResponse("Snapshot does not exist", status_code=404)

        status = snapshot.status()
        body: dict[str, Any] = {
            "snapshot_id": snapshot.id,
            "dataset_id": snapshot.dataset_id,
            "status": status,
        }
        if status == "failed":
            body["error_message"] = snapshot.error_message()
        if status == "ready":
            errors = sum(1 for record in snapshot.records if is_error_record(record))
            body["records"] = len(snapshot.records) - errors
            body["errors"] = errors
            body["collection_duration"] = snapshot.behaviour.ready_after
        return JSONResponse(body)

    async def snapshot(self, request: Request) -> Response:
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected
        snapshot = self._find(request)
        if snapshot is None:
            return PlainTextResponse("Snapshot does not exist", status_code=404)

        response_format = request.query_params.get("format", "json")
        if response_format not in DOWNLOAD_FORMATS:
            # NOTE: csv, compress, batch_size and part are not reproduced.
            message = (
                f"format {response_format} is not supported by the sandbox; use {', '.join(DOWNLOAD_FORMATS)}"
            )
            return PlainTextResponse(message, status_code=400)

        status = snapshot.status()
        if status in RUNNING_STATUSES:
            return JSONResponse({"status": status, "message": _NOT_READY}, status_code=202)
        if status == "failed":
            message = f"Snapshot failed: {snapshot.error_message()}"
            return JSONResponse({"status": "failed", "message": message}, status_code=202)
        if snapshot.behaviour.outcome == "expired":
            return PlainTextResponse("Snapshot is expired", status_code=400)
        if not snapshot.records:
            return PlainTextResponse("Snapshot is empty", status_code=400)

        records = self._deliver(request, snapshot, include_errors=True, query=request.query_params)
        if response_format == "json":
            return JSONResponse(records)
        lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        return Response(lines, media_type="application/x-ndjson")

    async def cancel(self, request: Request) -> Response:
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected
        snapshot = self._find(request)
        if snapshot is None:
            return PlainTextResponse("Snapshot does not exist", status_code=404)
        if snapshot.status() not in RUNNING_STATUSES:
            return PlainTextResponse("Snapshot is not running", status_code=400)
        snapshot.canceled = True
        return PlainTextResponse("OK")

    async def _start_collection(
        self, request: Request, *, max_inputs: int | None
    ) -> tuple[Snapshot, bool, bool] | Response:
        """Validate a /scrape or /trigger call and create its snapshot.

        Return the snapshot, whether error records are kept, and whether the
        body held a single input (then /scrape returns an object, not an array).
        """
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected
        note = note_of(request)

        dataset_id = request.query_params.get("dataset_id")
        note.dataset_id = dataset_id
        if not dataset_id:
            return PlainTextResponse("dataset missing", status_code=400)
        dataset = DATASETS.get(dataset_id)
        if dataset is None:
            return PlainTextResponse("dataset does not exist", status_code=404)

        inputs = _parse_inputs(await request.body())
        if isinstance(inputs, Response):
            return inputs
        if max_inputs is not None and len(inputs) > max_inputs:
            message = f"Too many inputs: {len(inputs)}; a synchronous request takes at most {max_inputs}"
            return PlainTextResponse(message, status_code=400)

        injected = self._next_injected_failure()
        if injected == 429:
            # Worded as if the dataset's job limit were what is running now, at least one.
            running = max(self.snapshots.running_jobs(dataset_id), 1)
            return _too_many_running_jobs(running, limit=running)
        if injected is not None:
            return PlainTextResponse(f"Injected {injected} from the sandbox", status_code=injected)

        running = self.snapshots.running_jobs(dataset_id)
        limit = self.settings.max_running_jobs
        if limit is not None and running >= limit:
            return _too_many_running_jobs(running, limit=limit)

        include_errors = request.query_params.get("include_errors", "").lower() == "true"
        records = self._collect(dataset, inputs, include_errors)
        snapshot = self.snapshots.create(dataset_id, records, self.behaviour)
        note.snapshot_id = snapshot.id
        logger.info("snapshot %s of %s: %d inputs", snapshot.id, dataset.name, len(inputs))
        return snapshot, include_errors, len(inputs) == 1

    def _collect(
        self, dataset: Dataset, inputs: list[dict[str, Any]], include_errors: bool
    ) -> list[dict[str, Any]]:
        """Return the records of `inputs`; an `empty` behaviour collects none."""
        if self.behaviour.outcome == "empty":
            return []
        records = []
        for input_object in inputs:
            record = self._record_for(dataset, input_object)
            if include_errors or not is_error_record(record):
                records.append(record)
        return records

    def _record_for(self, dataset: Dataset, input_object: dict[str, Any]) -> dict[str, Any]:
        url = input_object["url"]
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self.settings.check_domains and not dataset.host_pattern.match(host):
            return error_record(input_object, f"{url} is not a {dataset.name} page", "invalid_input")

        page = self.pages.find(host, parts.path or "/", parts.query)
        if page is None or page.kind != "product":
            return error_record(input_object, f"Page {url} does not exist or holds no product", "dead_page")
        return build_record(dataset, page, input_object)

    def _deliver(
        self, request: Request, snapshot: Snapshot, include_errors: bool, query: Any
    ) -> list[dict[str, Any]]:
        """Return the snapshot's records, billing them on the first delivery only."""
        records = [record for record in snapshot.records if include_errors or not is_error_record(record)]
        billable = [record for record in snapshot.records if not is_error_record(record)]
        if not snapshot.delivered:
            snapshot.delivered = True
            note = note_of(request)
            note.billed = bool(billable)
            note.billed_records = len(billable)
            for record in billable:
                self.billing.bill_records(record["input"]["url"], 1)

        fields = query.get("custom_output_fields")
        if fields:
            keep = {field.split(".", 1)[0] for field in fields.split("|")}
            records = [
                record if is_error_record(record) else {key: record[key] for key in record if key in keep}
                for record in records
            ]
        return records

    def _next_injected_failure(self) -> int | None:
        with self._failures_lock:
            return self._injected_failures.popleft() if self._injected_failures else None

    def _find(self, request: Request) -> Snapshot | None:
        snapshot_id = request.path_params["snapshot_id"]
        note = note_of(request)
        note.snapshot_id = snapshot_id
        snapshot = self.snapshots.get(snapshot_id)
        if snapshot is not None:
            note.dataset_id = snapshot.dataset_id
        return snapshot


def _too_many_running_jobs(running: int, *, limit: int) -> Response:
    message = (
        "You have too many running jobs for this dataset, please wait for some of them to finish. "
        f"Running jobs: {running}>={limit}"
    )
    return PlainTextResponse(message, status_code=429)


def _parse_inputs(body: bytes) -> list[dict[str, Any]] | Response:
    """Return the inputs of a JSON array of objects or of `{"input": [...]}`, or the 400 response."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return JSONResponse({"validation_errors": ["Request body is not valid JSON"]}, status_code=400)
    if isinstance(parsed, dict):
        parsed = parsed.get("input")
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        errors = ['Body must be a JSON array of inputs such as [{"url": "https://..."}], or {"input": [...]}']
        return JSONResponse({"validation_errors": errors}, status_code=400)
    if not parsed:
        return PlainTextResponse("No data to trigger", status_code=400)

    errors = [
        f"input {index}: url is required and must be an absolute http(s) URL"
        for index, item in enumerate(parsed)
        if not isinstance(item.get("url"), str)
        or urlsplit(item["url"]).scheme.lower() not in ("http", "https")
    ]
    if errors:
        return JSONResponse({"validation_errors": errors}, status_code=400)
    return parsed

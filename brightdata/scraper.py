"""Collect product records through Bright Data's Web Scraper API (datasets v3).

One call scrapes up to 20 product URLs of one dataset:

1. `POST /datasets/v3/scrape` keeps the connection open for up to about a minute
   and returns the records. For a job that takes longer it returns 202 and a
   `snapshot_id`.
2. The client then polls `GET /datasets/v3/progress/{id}` with exponential
   backoff until the snapshot is `ready` or `failed`.
3. Finally it downloads `GET /datasets/v3/snapshot/{id}`, which returns 202
   while the snapshot is still building.

When the caller's deadline is shorter than that synchronous window, the client
sends `POST /datasets/v3/trigger` instead. That call returns a `snapshot_id` at
once, so a short deadline cannot lose a snapshot that Bright Data goes on to
bill. A synchronous call whose connection drops can still lose one (see the
NOTE in `_scrape_sync`).

The call that starts a collection is retried under `ScraperConfig.retry` when
Bright Data refused it (429 "too many running jobs", 5xx) or no connection
could be made, because then no job was started. A timeout is not retried: the
job may be running and billed already. Failed progress and download polls are
retried by the polling loop until the deadline.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2 as httpx
from pydantic import SecretStr, ValidationError

from product_extractor.brightdata._http import (
    MeteredApiClient,
    read_error,
    read_error_parts,
    read_json,
    send,
)
from product_extractor.brightdata.cost import CostMeter
from product_extractor.brightdata.datasets import (
    Dataset,
    dataset_for,
    product_from_record,
    record_error,
    record_input_url,
)
from product_extractor.brightdata.errors import (
    ApiUnreachable,
    BrightDataError,
    RateLimited,
    RecordError,
    ServerError,
    SnapshotEmpty,
    SnapshotExpired,
    SnapshotFailed,
    SnapshotNotFound,
    SnapshotPending,
    UnexpectedResponse,
    error_from_response,
    summarize_body,
)
from product_extractor.brightdata.unlocker import DEFAULT_BASE_URL
from product_extractor.products.model import Product
from product_extractor.web.fetcher import FetchError
from product_extractor.web.limits import RequestGate
from product_extractor.web.retry import Retrier, RetryPolicy

__all__ = ["MAX_URLS_PER_SCRAPE", "ScrapeResult", "ScraperConfig", "UrlOutcome", "WebScraperClient"]

logger = logging.getLogger(__name__)

MAX_URLS_PER_SCRAPE = 20  # Bright Data's limit for one synchronous scrape call

# The products found for one URL, or why there are none.
UrlOutcome = list[Product] | BrightDataError


@dataclass(frozen=True, slots=True)
class ScraperConfig:
    """Account, timing and limits of the Web Scraper API client; repr hides the `SecretStr` token."""

    token: SecretStr
    base_url: str = DEFAULT_BASE_URL
    request_timeout_s: float = 30.0  # each trigger, progress and snapshot call
    # How long `POST /datasets/v3/scrape` keeps the connection open before it returns 202;
    # Bright Data documents one minute.
    sync_window_s: float = 60.0
    # Polling waits `poll_initial_s`, then doubles up to `poll_max_s`. Right after a
    # trigger the progress endpoint can return 404 for a few seconds, which counts as
    # "starting" for `progress_not_found_grace_s`.
    poll_initial_s: float = 2.0
    poll_max_s: float = 30.0
    progress_not_found_grace_s: float = 20.0
    max_response_bytes: int = 64 * 1024 * 1024  # a product record with its reviews runs to about 100 KB
    max_connections: int = 20
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # for the call that starts a collection

    def __post_init__(self) -> None:
        for name in ("request_timeout_s", "sync_window_s", "poll_initial_s", "poll_max_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)} must be more than 0 seconds")


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    """The result of one scrape call: an outcome for every input URL, in input order."""

    dataset: Dataset
    outcomes: dict[str, UrlOutcome]
    snapshot_id: str | None  # set when the call went through a snapshot
    requests: int  # HTTP calls made to the Web Scraper API, none of them billed
    billed_records: int  # non-error records delivered; Bright Data bills each one
    retries: int = 0  # API calls repeated after a transient failure

    @property
    def pending(self) -> bool:
        """True when the snapshot was still running at the deadline; download it later by `snapshot_id`."""
        return any(isinstance(outcome, SnapshotPending) for outcome in self.outcomes.values())

    def products(self) -> list[Product]:
        return [
            product for outcome in self.outcomes.values() if isinstance(outcome, list) for product in outcome
        ]

    def errors(self) -> dict[str, BrightDataError]:
        return {
            url: outcome for url, outcome in self.outcomes.items() if isinstance(outcome, BrightDataError)
        }


class WebScraperClient(MeteredApiClient):
    """Scrapes product URLs with Bright Data's product datasets over one pooled `httpx2.AsyncClient`.

    >>> client = WebScraperClient(ScraperConfig(token=SecretStr("...")))  # doctest: +SKIP
    >>> result = await client.scrape(["https://www.amazon.com/dp/B07FW264WL"], timeout_s=45)  # doctest: +SKIP
    >>> result.products()[0].extracted_by  # doctest: +SKIP
    'brightdata-dataset'
    """

    def __init__(
        self,
        config: ScraperConfig,
        *,
        meter: CostMeter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self.config = config
        super().__init__(
            token=config.token,
            base_url=config.base_url,
            timeout_s=config.request_timeout_s,
            max_connections=config.max_connections,
            meter=meter,
            transport=transport,
            gate=gate,
        )

    def __repr__(self) -> str:
        return f"WebScraperClient(base_url={self.config.base_url!r})"

    async def scrape(
        self, urls: Sequence[str], *, timeout_s: float, dataset: Dataset | None = None
    ) -> ScrapeResult:
        """Scrape `urls` (one dataset, at most 20) within `timeout_s` seconds.

        Failures of one snapshot or one URL (a failed, empty or expired snapshot,
        an error record, a snapshot still running at the deadline) become that URL's
        outcome. Failures of the whole call (a rejected token, a rate limit before
        any snapshot exists) raise a `BrightDataError` whose `url` is the first URL,
        with `snapshot_id` set when a snapshot had been started. A full cost meter
        raises `CostCapReached` before anything is sent.
        """
        urls = list(dict.fromkeys(urls))
        dataset = _batch_dataset(urls, dataset)
        if timeout_s <= 0:
            raise ValueError(f"timeout_s={timeout_s} must be more than 0 seconds")

        reservation = self.meter.reserve(urls[0], records=len(urls)) if self.meter is not None else None
        job = _Job(dataset=dataset, urls=urls, deadline=time.monotonic() + timeout_s)
        try:
            outcomes = await self._run(job)
        finally:
            # A snapshot still running keeps its reservation: Bright Data bills its
            # records when it finishes, so the cap must go on counting them.
            if reservation is not None and not job.pending:
                reservation.commit(records=job.billed_records)

        return ScrapeResult(
            dataset=dataset,
            outcomes=outcomes,
            snapshot_id=job.snapshot_id,
            requests=job.requests,
            billed_records=job.billed_records,
            retries=job.retries,
        )

    async def scrape_products(self, url: str, *, timeout_s: float) -> list[Product]:
        """Scrape one product URL and return its products, or raise its error."""
        result = await self.scrape([url], timeout_s=timeout_s)
        outcome = result.outcomes[url]
        if isinstance(outcome, BrightDataError):
            raise outcome
        return outcome

    async def _run(self, job: _Job) -> dict[str, UrlOutcome]:
        reply: list[object] | str
        if job.remaining() >= self.config.sync_window_s + self.config.request_timeout_s:
            reply = await self._start_collection(job, self._scrape_sync)
        else:
            reply = await self._start_collection(job, self._trigger)
        if isinstance(reply, list):
            return self._outcomes(job, reply)

        job.snapshot_id = reply
        job.snapshot_started = time.monotonic()
        try:
            records = await self._wait_for_snapshot(job)
        except _SnapshotProblem as problem:
            job.pending = problem.kind is SnapshotPending
            return {url: problem.error_for(url, job) for url in job.urls}
        except BrightDataError as error:
            error.snapshot_id = job.snapshot_id
            error.args = (f"{error} (Bright Data snapshot {job.snapshot_id})",)
            raise
        return self._outcomes(job, records)

    async def _start_collection(self, job: _Job, start: Callable[[_Job], Awaitable[_R]]) -> _R:
        """Run `start(job)`, retrying it while Bright Data refuses to start the collection."""
        retrier = Retrier(
            self.config.retry, job.urls[0], should_retry=_nothing_started, time_left=job.remaining
        )
        try:
            return await retrier.run(functools.partial(start, job))
        finally:
            job.retries += retrier.retries

    async def _scrape_sync(self, job: _Job) -> list[object] | str:
        """Send the synchronous scrape; return its records, or the snapshot id of its 202.

        NOTE: if this call times out or the connection drops, no snapshot id has arrived,
        so a job that Bright Data goes on to run and bill cannot be reported.
        """
        params = {"dataset_id": job.dataset.dataset_id, "format": "json", "include_errors": "true"}
        timeout_s = self.config.sync_window_s + self.config.request_timeout_s
        logger.debug("dataset %s: scraping %d URLs", job.dataset.name, len(job.urls))
        _status, body = await self._call(
            job,
            "POST",
            "/datasets/v3/scrape",
            endpoint="the Bright Data Web Scraper API",
            params=params,
            json=[{"url": url} for url in job.urls],
            timeout_s=timeout_s,
            accept=(200, 202),
        )

        if isinstance(body, Mapping) and "snapshot_id" in body:
            snapshot_id = str(body["snapshot_id"])
            logger.info(
                "dataset %s: scrape still running after the synchronous window, polling snapshot %s",
                job.dataset.name,
                snapshot_id,
            )
            return snapshot_id
        return _as_records(body)

    async def _trigger(self, job: _Job) -> str:
        """Start an asynchronous collection and return its snapshot id."""
        params = {"dataset_id": job.dataset.dataset_id, "include_errors": "true"}
        _status, body = await self._call(
            job,
            "POST",
            "/datasets/v3/trigger",
            endpoint="the Bright Data Web Scraper API trigger",
            params=params,
            json=[{"url": url} for url in job.urls],
            timeout_s=min(self.config.request_timeout_s, max(job.remaining(), 0.001)),
            accept=(200,),
        )
        if not isinstance(body, Mapping) or not isinstance(body.get("snapshot_id"), str):
            raise UnexpectedResponse(
                job.urls[0],
                f"the Bright Data trigger for {job.urls[0]} returned no snapshot_id; retry later",
                retryable=True,
                requests=job.requests,
            )
        snapshot_id = str(body["snapshot_id"])
        logger.info(
            "dataset %s: triggered snapshot %s for %d URLs", job.dataset.name, snapshot_id, len(job.urls)
        )
        return snapshot_id

    async def _wait_for_snapshot(self, job: _Job) -> list[object]:
        """Poll progress, then the download, until the records arrive or the deadline passes."""
        delay = self.config.poll_initial_s
        ready = False
        failures = 0

        while True:
            wait = delay
            failed = False
            try:
                if not ready:
                    ready = await self._is_ready(job)
                if ready:
                    records = await self._download(job)
                    if records is not None:
                        return records
            except BrightDataError as error:
                if not error.retryable:
                    raise
                failures += 1
                failed = True
                if failures == 1:
                    logger.warning("snapshot %s: %s; polling on", job.snapshot_id, error)
                if isinstance(error, RateLimited) and error.retry_after_s is not None:
                    wait = max(wait, error.retry_after_s)

            remaining = job.remaining()
            if remaining <= 0:
                if failures:
                    logger.warning(
                        "snapshot %s: %d polls failed before the deadline", job.snapshot_id, failures
                    )
                raise _SnapshotProblem(
                    SnapshotPending,
                    "was still running at the deadline; the records will be billed when it finishes, so "
                    "download them later with GET /datasets/v3/snapshot/{snapshot_id} or retry with a "
                    "larger timeout_s",
                    retryable=True,
                )
            if failed:
                # The next round sends the failed poll again.
                # NOTE: the sandbox cannot fail a poll yet, so no test counts these retries.
                job.retries += 1
            await anyio.sleep(min(wait, remaining))
            delay = min(delay * 2, self.config.poll_max_s)

    async def _is_ready(self, job: _Job) -> bool:
        """Return True once the snapshot's progress is `ready`; raise `_SnapshotProblem` when it failed."""
        status, body = await self._call(
            job,
            "GET",
            f"/datasets/v3/progress/{job.snapshot_id}",
            endpoint="the Bright Data snapshot progress check",
            accept=(200, 404),
        )
        if status == 404:
            if time.monotonic() - job.snapshot_started <= self.config.progress_not_found_grace_s:
                return False
            raise _SnapshotProblem(SnapshotNotFound, "does not exist (404)", status=404)

        progress = body.get("status") if isinstance(body, Mapping) else None
        if progress == "failed":
            raise _failed_problem(body)
        return progress == "ready"

    async def _download(self, job: _Job) -> list[object] | None:
        """Download the snapshot's records, or return None while it is still building (202)."""
        status, body = await self._call(
            job,
            "GET",
            f"/datasets/v3/snapshot/{job.snapshot_id}",
            endpoint="the Bright Data snapshot download",
            params={"format": "json"},
            accept=(200, 202),
            snapshot_errors=True,
        )
        if status == 202:
            # 202 means "not ready yet", but a job that failed after `ready` was reported
            # can also answer 202 with status "failed".
            if isinstance(body, Mapping) and body.get("status") == "failed":
                raise _failed_problem(body)
            return None
        return _as_records(body)

    async def _call(
        self,
        job: _Job,
        method: str,
        path: str,
        *,
        endpoint: str,
        accept: tuple[int, ...],
        params: Mapping[str, str] | None = None,
        json: object = None,
        timeout_s: float | None = None,
        snapshot_errors: bool = False,
    ) -> tuple[int, object]:
        """Send one API call and return its status and parsed JSON body (None for a 404).

        A status outside `accept` raises its `BrightDataError`. With `snapshot_errors`,
        a 400 or 404 raises the snapshot's `_SnapshotProblem` instead.
        """
        if timeout_s is None:
            timeout_s = min(self.config.request_timeout_s, max(job.remaining(), 0.001))
        request = self._client.build_request(
            method, path, params=params, json=json, timeout=httpx.Timeout(timeout_s)
        )
        async with self.gate.admit():
            return await self._send_and_read(
                job,
                request,
                endpoint=endpoint,
                accept=accept,
                timeout_s=timeout_s,
                snapshot_errors=snapshot_errors,
            )

    async def _send_and_read(
        self,
        job: _Job,
        request: httpx.Request,
        *,
        endpoint: str,
        accept: tuple[int, ...],
        timeout_s: float,
        snapshot_errors: bool,
    ) -> tuple[int, object]:
        url = job.urls[0]
        job.requests += 1
        response = await send(
            self._client,
            request,
            url=url,
            endpoint=endpoint,
            timeout_s=timeout_s,
            token=self.config.token,
            requests=job.requests,
        )
        try:
            status = response.status_code
            if snapshot_errors and status in (400, 404):
                raise await self._snapshot_problem(response, job)
            if status not in accept:
                raise await read_error(response, url=url, token=self.config.token, requests=job.requests)
            if status == 404:
                return status, None
            body = await read_json(
                response,
                url=url,
                max_bytes=self.config.max_response_bytes,
                endpoint=endpoint,
                requests=job.requests,
            )
            return status, body
        finally:
            await response.aclose()

    async def _snapshot_problem(self, response: httpx.Response, job: _Job) -> Exception:
        """Map a 400 or 404 from the snapshot download to the snapshot's problem, or to a call error."""
        if response.status_code == 404:
            return _SnapshotProblem(SnapshotNotFound, "does not exist (404)", status=404)

        headers, body = await read_error_parts(response, token=self.config.token)
        reason = body.lower()
        if "empty" in reason:
            return _SnapshotProblem(
                SnapshotEmpty,
                "is empty (400): the dataset collected no record; check that the URL is a product page",
                status=400,
            )
        if "expired" in reason:
            return _SnapshotProblem(SnapshotExpired, "is expired (400); scrape the URL again", status=400)
        return error_from_response(
            job.urls[0], status=response.status_code, headers=headers, body=body, requests=job.requests
        )

    def _outcomes(self, job: _Job, records: list[object]) -> dict[str, UrlOutcome]:
        """Give every input URL its products or its error, and count the billed records."""
        found: dict[str, list[Product]] = {url: [] for url in job.urls}
        errors: dict[str, BrightDataError] = {}
        unmatched = 0

        for record in records:
            if not isinstance(record, Mapping):
                unmatched += 1
                continue
            url = _match_input(record, job.urls)
            error = record_error(record, url or job.urls[0])
            if error is None:
                job.billed_records += 1
            if url is None:
                unmatched += 1
                continue
            if error is not None:
                errors.setdefault(url, error)
                continue
            try:
                found[url].append(product_from_record(record, url))
            except ValidationError as invalid:
                errors.setdefault(
                    url,
                    UnexpectedResponse(
                        url,
                        f"the Bright Data record for {url} has invalid fields "
                        f"({invalid.error_count()} errors); report the dataset {job.dataset.dataset_id}",
                        requests=0,
                    ),
                )

        if unmatched:
            logger.warning(
                "dataset %s: %d records matched no input URL and were dropped", job.dataset.name, unmatched
            )

        outcomes: dict[str, UrlOutcome] = {}
        for url in job.urls:
            if found[url]:
                outcomes[url] = found[url]
            elif url in errors:
                outcomes[url] = errors[url]
            else:
                outcomes[url] = RecordError(
                    url,
                    f"the Bright Data dataset {job.dataset.name} returned no record for {url}; retry later",
                    retryable=True,
                    snapshot_id=job.snapshot_id,
                    requests=0,
                )
        return outcomes


@dataclass
class _Job:
    """The state of one scrape call."""

    dataset: Dataset
    urls: list[str]
    deadline: float  # time.monotonic() value
    requests: int = 0
    billed_records: int = 0
    retries: int = 0
    snapshot_id: str | None = None
    snapshot_started: float = 0.0
    pending: bool = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


_R = TypeVar("_R")


def _nothing_started(error: FetchError) -> bool:
    """Return True for a failure of a collection-starting call after which no job can be running.

    Bright Data responded 429 or 5xx, or no connection was made. After a timeout
    the job may have started, and a second call would start and bill another.
    """
    return error.retryable and isinstance(error, RateLimited | ServerError | ApiUnreachable)


class _SnapshotProblem(Exception):
    """A state of the snapshot that ends the wait for every URL of the call (failed, empty, pending)."""

    def __init__(
        self,
        kind: type[BrightDataError],
        explanation: str,
        *,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(explanation)
        self.kind = kind
        self.explanation = explanation
        self.status = status
        self.retryable = retryable

    def error_for(self, url: str, job: _Job) -> BrightDataError:
        snapshot_id = job.snapshot_id or "(none)"
        explanation = self.explanation.replace("{snapshot_id}", snapshot_id)
        return self.kind(
            url,
            f"Bright Data snapshot {snapshot_id} for {url} {explanation}",
            status=self.status,
            retryable=self.retryable,
            snapshot_id=job.snapshot_id,
            requests=0,
        )


def _failed_problem(body: object) -> _SnapshotProblem:
    """Return the problem of a snapshot whose status is `failed`, quoting Bright Data's reason."""
    reason = None
    if isinstance(body, Mapping):
        reason = body.get("error_message") or body.get("message")
    detail = summarize_body(str(reason)) if reason else "no reason given"
    return _SnapshotProblem(SnapshotFailed, f"failed ({detail}); retry later or check the URL", status=200)


def _batch_dataset(urls: list[str], dataset: Dataset | None) -> Dataset:
    """Return the one dataset that covers every URL, or raise `ValueError` for an invalid batch."""
    if not urls:
        raise ValueError("scrape() needs at least one URL")
    if len(urls) > MAX_URLS_PER_SCRAPE:
        raise ValueError(f"{len(urls)} URLs in one scrape; Bright Data takes at most {MAX_URLS_PER_SCRAPE}")

    chosen = dataset or dataset_for(urls[0])
    if chosen is None:
        raise ValueError(f"no Bright Data product dataset covers {urls[0]}")
    for url in urls:
        if not chosen.accepts(url):
            raise ValueError(f"{url} is not a product URL of the {chosen.name} dataset; scrape it separately")
    return chosen


def _as_records(body: object) -> list[object]:
    """Return a reply's records: an array as is, one object as a one-record list."""
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        return [body]
    return []


def _match_input(record: Mapping[str, Any], urls: list[str]) -> str | None:
    """Return the input URL of a record: exact, then ignoring the host's case and a trailing slash."""
    submitted = record_input_url(record)
    if submitted in urls:
        return submitted
    if submitted is not None:
        key = _url_key(submitted)
        for url in urls:
            if _url_key(url) == key:
                return url
    return urls[0] if len(urls) == 1 else None


def _url_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}{parts.path.rstrip('/')}?{parts.query}"

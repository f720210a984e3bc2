"""Finished jobs kept in memory for a while, so an agent can page through a result too big to return whole."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

JOB_URI_PREFIX = "products://jobs/"
DEFAULT_PAGE_SIZE = 50  # products per resource read when the reader gives no limit
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class StoredJob:
    result: dict[str, Any]  # the whole structured result, JSON-ready
    stored_at: float  # time.monotonic()


class JobStore:
    """Results of finished calls by job id, each kept for `ttl_s` seconds, at most `max_jobs` at once.

    A server that takes many calls within one TTL drops its oldest results first, so the
    memory they hold stays bounded.
    """

    def __init__(self, *, ttl_s: float, max_jobs: int = 200) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs={max_jobs} is invalid; keep at least 1 job")
        self.ttl_s = ttl_s
        self.max_jobs = max_jobs
        self._jobs: dict[str, StoredJob] = {}  # in the order they were stored, oldest first
        self._lock = threading.Lock()

    def put(self, job_id: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._drop_expired()
            self._jobs.pop(job_id, None)
            self._jobs[job_id] = StoredJob(result=result, stored_at=time.monotonic())
            while len(self._jobs) > self.max_jobs:
                del self._jobs[next(iter(self._jobs))]

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._drop_expired()
            job = self._jobs.get(job_id)
            return job.result if job is not None else None

    def summaries(self) -> list[dict[str, Any]]:
        """Return one line per kept job, newest first: id, status, URLs and product count."""
        with self._lock:
            self._drop_expired()
            jobs = sorted(self._jobs.items(), key=lambda item: item[1].stored_at, reverse=True)
        return [
            {
                "job_id": job_id,
                "uri": job_uri(job_id),
                "status": job.result.get("status", "complete"),
                "urls": [entry["url"] for entry in job.result["url_results"]],
                "products": len(job.result["products"]),
            }
            for job_id, job in jobs
        ]

    def _drop_expired(self) -> None:
        deadline = time.monotonic() - self.ttl_s
        for job_id in [job_id for job_id, job in self._jobs.items() if job.stored_at < deadline]:
            del self._jobs[job_id]


def job_uri(job_id: str) -> str:
    return JOB_URI_PREFIX + job_id


def fit_products(result: dict[str, Any], *, budget_bytes: int) -> tuple[dict[str, Any], int]:
    """Return a copy of `result` whose products fit in `budget_bytes` of JSON, and how many were left out.

    Products are kept in order until the next one would pass the budget; the
    rest of the result (url_results, stats) is small and always kept.
    """
    kept: list[dict[str, Any]] = []
    size = len(json.dumps({key: value for key, value in result.items() if key != "products"}))
    for record in result["products"]:
        size += len(json.dumps(record, ensure_ascii=False)) + 2
        if size > budget_bytes:
            break
        kept.append(record)
    return {**result, "products": kept}, len(result["products"]) - len(kept)


def page_of(result: dict[str, Any], job_id: str, *, offset: int, limit: int) -> dict[str, Any]:
    """Return products `offset` to `offset + limit` of a stored result, with the job's totals."""
    products = result["products"]
    return {
        "job_id": job_id,
        "offset": offset,
        "limit": limit,
        "total_products": len(products),
        "next_offset": offset + limit if offset + limit < len(products) else None,
        "products": products[offset : offset + limit],
        "url_results": result["url_results"],
        "stats": result["stats"],
    }

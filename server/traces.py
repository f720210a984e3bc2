"""Execution traces: one JSON line per tool call, written to a folder when tracing is on."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from product_extractor.server.trace_json import to_trace_value, trace_dumps
from product_extractor.tools.results import ExtractionResult

logger = logging.getLogger(__name__)


class TraceWriter:
    """Append one JSON record per tool call to `<folder>/traces-<UTC date>.jsonl`.

    Writing never raises into the tool call: a trace that cannot be written is
    logged once per failure kind and dropped. Every value passes through the
    trace encoder with the server's secrets, so no token reaches the file.
    """

    def __init__(self, folder: Path, *, secrets: Iterable[str] = ()) -> None:
        self.folder = folder
        self.secrets = [secret for secret in secrets if secret]
        self._lock = threading.Lock()
        self._failures_logged: set[str] = set()

    def path_for(self, moment: datetime.datetime) -> Path:
        return self.folder / f"traces-{moment:%Y%m%d}.jsonl"

    def write(self, record: dict[str, Any]) -> Path | None:
        """Append `record` as one line and return the file's path, or None when it could not be written."""
        now = datetime.datetime.now(datetime.UTC)
        line = trace_dumps({"time": now.isoformat(), **record}, secrets=self.secrets)
        path = self.path_for(now)
        try:
            with self._lock:
                self.folder.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as trace_file:
                    trace_file.write(line + "\n")
        except OSError as error:
            kind = type(error).__name__
            if kind not in self._failures_logged:
                self._failures_logged.add(kind)
                logger.warning("could not write the execution trace to %s: %s", path, error)
            return None
        return path


class CallTrace:
    """Collects what one `extract_products` call did, for its trace record."""

    def __init__(self, *, tool: str, job_id: str, arguments: Any, secrets: Iterable[str]) -> None:
        self.started = time.monotonic()
        self.result: ExtractionResult | None = None  # set once the fan-out returns
        self.record: dict[str, Any] = {
            "tool": tool,
            "job_id": job_id,
            "arguments": to_trace_value(arguments, secrets=secrets),
        }

    def finish(
        self, *, outcome: str, result: ExtractionResult | None = None, error: BaseException | None = None
    ) -> dict[str, Any]:
        """Return the finished record: outcome, duration, per-URL figures and a summary of the result."""
        self.record["outcome"] = outcome
        self.record["seconds"] = round(time.monotonic() - self.started, 3)
        if error is not None:
            self.record["error"] = error
        if result is not None:
            self.record["backend"] = result.stats.backend
            self.record["urls"] = [
                {
                    "url": entry.url,
                    "status": entry.status,
                    "seconds": entry.seconds,
                    "requests": entry.requests,
                    "billed_requests": entry.billed_requests,
                    "billed_records": entry.billed_records,
                    "backend": entry.backend,
                    "fallbacks": entry.fallbacks,
                    "cache_hits": entry.cache_hits,
                    "retries": entry.retries,
                    "error": entry.error,
                }
                for entry in result.url_results
            ]
            self.record["result"] = {
                "stats": result.stats,
                "products": len(result.products),
                "duplicate_urls": result.duplicate_urls,
            }
        return self.record

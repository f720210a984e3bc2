"""Snapshots of the Web Scraper API stand-in: their records and the status each shows as time passes.

A snapshot moves `starting` → `running` → `ready` (or `failed`) on the
monotonic clock, as a `SnapshotBehaviour` sets. The behaviour is copied at
trigger time, so changing it affects only later snapshots.
"""

from __future__ import annotations

import random
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# Snapshot outcomes: ready with records, failed, ready but with no records,
# ready but expired before download, or never ready at all.
OUTCOMES = ("ready", "failed", "empty", "expired", "never")

# Statuses during which a snapshot counts as a running job.
RUNNING_STATUSES = ("starting", "running")


@dataclass(frozen=True, slots=True)
class SnapshotBehaviour:
    """Behaviour of the snapshots triggered from now on; times are seconds after the trigger."""

    ready_after: float = 5.0  # when the job ends, ready or failed
    outcome: str = "ready"  # one of OUTCOMES
    starting_for: float | None = None  # time in `starting`; None means a fifth of ready_after, at most 1 s
    progress_404_for: float = (
        0.0  # /progress responds 404 this long, as the real API can right after a trigger
    )
    error_message: str = "Collection failed: the target pages could not be scraped"

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"snapshot outcome {self.outcome!r} is unknown; use one of {', '.join(OUTCOMES)}"
            )
        if self.ready_after < 0 or self.progress_404_for < 0 or (self.starting_for or 0) < 0:
            raise ValueError("snapshot times are seconds and must be 0 or more")

    @property
    def starting_seconds(self) -> float:
        if self.starting_for is not None:
            return min(self.starting_for, self.ready_after)
        return min(self.ready_after / 5, 1.0)


@dataclass(slots=True)
class Snapshot:
    """One triggered collection: its records (error records included) and when it was created."""

    id: str
    dataset_id: str
    records: list[dict[str, Any]]
    behaviour: SnapshotBehaviour
    created: float = field(default_factory=time.monotonic)
    canceled: bool = False
    delivered: bool = False  # set on the first download, which bills its records

    def status(self, now: float | None = None) -> str:
        """Return `starting`, `running`, `ready` or `failed` at `now` (time.monotonic(); default: now)."""
        elapsed = (time.monotonic() if now is None else now) - self.created
        if self.canceled:
            return "failed"
        if elapsed < self.behaviour.starting_seconds:
            return "starting"
        if self.behaviour.outcome == "never" or elapsed < self.behaviour.ready_after:
            return "running"
        return "failed" if self.behaviour.outcome == "failed" else "ready"

    def error_message(self) -> str:
        return "Canceled by request" if self.canceled else self.behaviour.error_message

    def hidden_from_progress(self, now: float | None = None) -> bool:
        """Return whether /progress still responds 404 for this snapshot, as right after a trigger."""
        elapsed = (time.monotonic() if now is None else now) - self.created
        return elapsed < self.behaviour.progress_404_for


class SnapshotStore:
    """Every snapshot by id; thread-safe. Ids come from a seeded generator, so runs repeat."""

    def __init__(self, *, seed: int = 1) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._random = random.Random(f"snapshot-ids:{seed}")
        self._lock = threading.Lock()

    def create(
        self, dataset_id: str, records: list[dict[str, Any]], behaviour: SnapshotBehaviour
    ) -> Snapshot:
        with self._lock:
            snapshot_id = "sd_" + "".join(self._random.choices(string.ascii_lowercase + string.digits, k=18))
            snapshot = Snapshot(snapshot_id, dataset_id, records, behaviour)
            self._snapshots[snapshot_id] = snapshot
            return snapshot

    def get(self, snapshot_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(snapshot_id)

    def running_jobs(self, dataset_id: str) -> int:
        now = time.monotonic()
        with self._lock:
            snapshots = list(self._snapshots.values())
        return sum(
            1
            for snapshot in snapshots
            if snapshot.dataset_id == dataset_id and snapshot.status(now) in RUNNING_STATUSES
        )

"""Injected latency and errors: a seeded default for every page, and overrides per host or path prefix."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Latency:
    """Delay before a response, in seconds: fixed when `low == high`, else drawn uniformly per request."""

    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise ValueError(f"latency range {self.low}-{self.high} s is invalid; use 0 <= low <= high")

    @classmethod
    def parse(cls, text: str) -> Latency:
        """Parse `0.2` (fixed seconds) or `0.05-0.4` (a range).

        >>> Latency.parse("0.05-0.4")
        Latency(low=0.05, high=0.4)
        """
        low, separator, high = text.strip().partition("-")
        try:
            return cls(float(low), float(high if separator else low))
        except ValueError as error:
            raise ValueError(
                f"latency {text!r} is invalid; write seconds (0.2) or a range (0.05-0.4)"
            ) from error

    @classmethod
    def coerce(cls, value: Latency | float | tuple[float, float]) -> Latency:
        """Accept seconds, a (low, high) pair or a `Latency`."""
        if isinstance(value, Latency):
            return value
        if isinstance(value, tuple):
            return cls(float(value[0]), float(value[1]))
        return cls(float(value), float(value))


@dataclass(frozen=True, slots=True)
class Fault:
    """An override for the requests under one host or path prefix; a None field keeps the default."""

    latency: Latency | None = None
    status: int | None = None  # respond to every request with this status, after the latency
    error_rate: float | None = None  # share of requests that get a 500 response, drawn per request


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The fate of one request: wait `delay` seconds, then respond with `status` (None: serve the page)."""

    delay: float
    status: int | None
    reason: str | None  # why the status was injected, for the X-Sandbox-Fault header


class FaultPlan:
    """Decides the delay and injected status of each page request; safe to change from another thread.

    Two seeded generators, one for latency and one for errors, make a run
    repeatable: the same requests in the same order get the same delays and
    the same failures. Overrides match the longest prefix: a host
    (`www.shop.example`) is the path prefix `/www.shop.example/`.
    """

    def __init__(self, *, latency: Latency | None = None, error_rate: float = 0.0, seed: int = 1) -> None:
        _check_error_rate(error_rate)
        self.latency = latency or Latency()
        self.error_rate = error_rate
        self._latency_random = random.Random(f"latency:{seed}")
        self._error_random = random.Random(f"errors:{seed}")
        self._overrides: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def set_fault(self, target: str, fault: Fault) -> None:
        """Override the default for every path under `target`, a host or a path prefix starting with /."""
        if fault.error_rate is not None:
            _check_error_rate(fault.error_rate)
        with self._lock:
            self._overrides[_prefix_for(target)] = fault

    def clear_faults(self, target: str | None = None) -> None:
        """Remove the override for `target`, or every override when `target` is None."""
        with self._lock:
            if target is None:
                self._overrides.clear()
            else:
                self._overrides.pop(_prefix_for(target), None)

    def decide(self, path: str) -> FaultDecision:
        with self._lock:
            fault = self._match(path)
            latency = fault.latency if fault and fault.latency is not None else self.latency
            error_rate = fault.error_rate if fault and fault.error_rate is not None else self.error_rate

            delay = latency.low
            if latency.high > latency.low:
                delay = self._latency_random.uniform(latency.low, latency.high)

            if fault and fault.status is not None:
                return FaultDecision(delay, fault.status, "status")
            if error_rate > 0 and self._error_random.random() < error_rate:
                return FaultDecision(delay, 500, "error-rate")
            return FaultDecision(delay, None, None)

    def _match(self, path: str) -> Fault | None:
        matches = [prefix for prefix in self._overrides if path.startswith(prefix)]
        return self._overrides[max(matches, key=len)] if matches else None


def _prefix_for(target: str) -> str:
    if target.startswith("/"):
        return target
    return f"/{target.lower().strip('/')}/"


def _check_error_rate(error_rate: float) -> None:
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error rate {error_rate} is invalid; use a share between 0 and 1")

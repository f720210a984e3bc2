"""Injected latency and errors: a seeded default for every page, and overrides per host or path prefix."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from product_extractor.sandbox.body_faults import BodyFault


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

    def draw(self, generator: random.Random) -> float:
        """Return one delay in seconds; a fixed latency leaves `generator` untouched."""
        if self.high > self.low:
            return generator.uniform(self.low, self.high)
        return self.low

    @classmethod
    def coerce(cls, value: Latency | float | tuple[float, float]) -> Latency:
        """Accept seconds, a (low, high) pair or a `Latency`."""
        if isinstance(value, Latency):
            return value
        if isinstance(value, tuple):
            return cls(float(value[0]), float(value[1]))
        return cls(float(value), float(value))


@dataclass(frozen=True, slots=True)
class LognormalLatency:
    """Delay drawn per request from a lognormal: `median` seconds, spread `sigma`, all times `scale`.

    A lognormal's median is exp(mu), so mu = ln(median). Benchmarks keep the
    shape of a real service's latency but shrink it with `scale`.
    """

    median: float
    sigma: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.median < 0 or self.sigma < 0 or self.scale < 0:
            raise ValueError(
                f"lognormal latency (median {self.median} s, sigma {self.sigma}, scale {self.scale}) "
                "is invalid; all three must be 0 or more"
            )

    def draw(self, generator: random.Random) -> float:
        """Return one delay in seconds; a zero median, sigma or scale leaves `generator` untouched."""
        if self.median == 0 or self.scale == 0:
            return 0.0
        if self.sigma == 0:
            return self.median * self.scale
        return generator.lognormvariate(math.log(self.median), self.sigma) * self.scale


@dataclass(frozen=True, slots=True)
class Fault:
    """An override for the requests under one host or path prefix; a None field keeps the default."""

    latency: Latency | None = None
    status: int | None = None  # respond with this status after the latency, to every request or a burst
    error_rate: float | None = None  # share of requests that get a 500 response, drawn per request
    retry_after: str | None = None  # Retry-After header sent with `status`: seconds or an HTTP date
    # Only the first `burst` requests under the prefix get `status`; None means every request.
    burst: int | None = None
    spike_rate: float | None = None  # share of requests that wait `spike_s` seconds more, drawn per request
    spike_s: float = 0.0
    body: BodyFault | None = None  # how a page that is served goes wrong on the way; see body_faults

    def __post_init__(self) -> None:
        if self.burst is not None and (self.status is None or self.burst < 1):
            raise ValueError(
                f"burst={self.burst} is invalid; give a status and a burst of 1 or more "
                "(None fails every request)"
            )
        if self.spike_rate is not None:
            check_rate(self.spike_rate, "latency spike rate")
        if self.spike_s < 0:
            raise ValueError(f"latency spike of {self.spike_s} s is invalid; use 0 or more seconds")


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The fate of one request: wait `delay` seconds, then respond with `status` (None: serve the page)."""

    delay: float
    status: int | None
    reason: str | None  # why the status was injected, for the X-Sandbox-Fault header
    body: BodyFault | None = None  # how to damage the page when it is served
    retry_after: str | None = None  # the Retry-After header to send with `status`


class FaultPlan:
    """Decides the delay and injected status of each page request; safe to change from another thread.

    Two seeded generators, one for latency and one for errors, make a run
    repeatable: the same requests in the same order get the same delays and
    the same failures. Overrides match the longest prefix: a host
    (`www.shop.example`) is the path prefix `/www.shop.example/`.
    """

    def __init__(self, *, latency: Latency | None = None, error_rate: float = 0.0, seed: int = 1) -> None:
        check_rate(error_rate, "error rate")
        self.latency = latency or Latency()
        self.error_rate = error_rate
        self._latency_random = random.Random(f"latency:{seed}")
        self._error_random = random.Random(f"errors:{seed}")
        self._overrides: PrefixRules[Fault] = PrefixRules()
        self._lock = threading.Lock()
        self._bursts = BurstCounter()

    def set_fault(self, target: str, fault: Fault) -> None:
        """Override the default for every path under `target`, a host or a path prefix starting with /."""
        if fault.error_rate is not None:
            check_rate(fault.error_rate, "error rate")
        prefix = _prefix_for(target)
        self._overrides.set(prefix, fault)
        self._bursts.reset(prefix)

    def clear_faults(self, target: str | None = None) -> None:
        """Remove the override for `target`, or every override when `target` is None."""
        prefix = None if target is None else _prefix_for(target)
        self._overrides.clear(prefix)
        self._bursts.reset(prefix)

    def decide(self, path: str) -> FaultDecision:
        prefix, fault = self._overrides.match_with_prefix(path) or ("", None)
        with self._lock:
            latency = fault.latency if fault and fault.latency is not None else self.latency
            error_rate = fault.error_rate if fault and fault.error_rate is not None else self.error_rate

            delay = latency.draw(self._latency_random)
            if fault and fault.spike_rate and self._latency_random.random() < fault.spike_rate:
                delay += fault.spike_s

            if fault and fault.status is not None and self._bursts.take(prefix, fault.burst):
                return FaultDecision(delay, fault.status, "status", retry_after=fault.retry_after)
            if error_rate > 0 and self._error_random.random() < error_rate:
                return FaultDecision(delay, 500, "error-rate")
            return FaultDecision(delay, None, None, fault.body if fault else None)


RuleT = TypeVar("RuleT")


class PrefixRules(Generic[RuleT]):
    """Rules keyed by string prefix, matched longest prefix first; safe to change from another thread."""

    def __init__(self) -> None:
        self._rules: dict[str, RuleT] = {}
        self._lock = threading.Lock()

    def set(self, prefix: str, rule: RuleT) -> None:
        with self._lock:
            self._rules[prefix] = rule

    def clear(self, prefix: str | None = None) -> None:
        """Remove the rule for `prefix`, or every rule when `prefix` is None."""
        with self._lock:
            if prefix is None:
                self._rules.clear()
            else:
                self._rules.pop(prefix, None)

    def match(self, key: str) -> RuleT | None:
        """Return the rule of the longest prefix of `key`, or None."""
        matched = self.match_with_prefix(key)
        return matched[1] if matched else None

    def match_with_prefix(self, key: str) -> tuple[str, RuleT] | None:
        """Return the longest prefix of `key` that has a rule, and the rule; None when none matches."""
        with self._lock:
            matches = [prefix for prefix in self._rules if key.startswith(prefix)]
            if not matches:
                return None
            prefix = max(matches, key=len)
            return prefix, self._rules[prefix]


class BurstCounter:
    """Counts the requests each fault prefix has failed, for faults limited to a burst; thread-safe."""

    def __init__(self) -> None:
        self._failed: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, prefix: str, burst: int | None) -> bool:
        """Return True when the next request under `prefix` gets the fault: always when `burst` is None."""
        if burst is None:
            return True
        with self._lock:
            failed = self._failed.get(prefix, 0)
            if failed >= burst:
                return False
            self._failed[prefix] = failed + 1
            return True

    def reset(self, prefix: str | None = None) -> None:
        """Start the burst of `prefix` again, or of every prefix when None."""
        with self._lock:
            if prefix is None:
                self._failed.clear()
            else:
                self._failed.pop(prefix, None)


def _prefix_for(target: str) -> str:
    if target.startswith("/"):
        return target
    return f"/{target.lower().strip('/')}/"


def check_rate(rate: float, name: str) -> None:
    """Raise ValueError unless `rate` is a share between 0 and 1; `name` names the option in the message."""
    if not 0 <= rate <= 1:
        raise ValueError(f"{name} {rate} is invalid; use a share between 0 and 1")

"""Limits on outgoing requests: in flight per server process, in flight per host, and per period.

- `RequestGate` admits one request under an optional requests-per-period
  limit (an aiolimiter `AsyncLimiter`) and an optional in-flight limit (an
  anyio `CapacityLimiter`). One gate serves the whole server process.
- `GatedFetcher` sends every fetch of another `Fetcher` through a gate.
- `PerHostLimitedFetcher` bounds the fetches in flight to one scheme, host
  and port.

The limits hold each request only while it is sent and read. A retry's
backoff waits outside them, so a URL that waits to retry takes no slot.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from aiolimiter import AsyncLimiter

from product_extractor.web.fetcher import Fetcher, Page

__all__ = ["GatedFetcher", "PerHostLimitedFetcher", "RateLimit", "RequestGate", "host_key"]

_SECONDS_PER_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"(\d+)/(\d+(?:\.\d+)?)?([smh])")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` requests per `period_s` seconds."""

    requests: int
    period_s: float

    def __post_init__(self) -> None:
        if self.requests < 1 or not self.period_s > 0:
            raise ValueError(
                f"rate limit {self.requests}/{self.period_s:g}s is invalid; both numbers must be above 0"
            )

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse `<requests>/<period><unit>`, where unit is s, m or h and a missing period means 1.

        >>> RateLimit.parse("100/1m")
        RateLimit(requests=100, period_s=60.0)
        >>> RateLimit.parse("10/s")
        RateLimit(requests=10, period_s=1.0)
        """
        match = _RATE.fullmatch("".join(text.split()))
        if match is None:
            raise ValueError(
                f"rate limit {text!r} is invalid; write requests per period with the unit s, m or h, "
                "such as 100/1m or 10/1s"
            )
        requests, amount, unit = match.groups()
        period_s = float(amount or 1) * _SECONDS_PER_UNIT[unit]
        if int(requests) < 1 or period_s <= 0:
            raise ValueError(f"rate limit {text!r} is invalid; the requests and the period must be above 0")
        return cls(int(requests), period_s)

    def __str__(self) -> str:
        return f"{self.requests}/{self.period_s:g}s"

    def limiter(self) -> AsyncLimiter:
        """Return an aiolimiter leaky bucket for this rate.

        The bucket admits a burst of up to `requests` at once, then refills at
        `requests` per `period_s`, so over a long run the average rate is this limit.
        """
        return AsyncLimiter(self.requests, self.period_s)


@dataclass(frozen=True, slots=True)
class RequestGate:
    """The limits a request passes before it is sent: a rate limit and an in-flight limit, both optional."""

    in_flight: anyio.CapacityLimiter | None = None
    rate: AsyncLimiter | None = None

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Wait for the rate limit, then for an in-flight slot, and hold the slot until the block ends.

        The rate comes first so that a request waiting for its turn takes no slot,
        which other requests, direct ones included, can use meanwhile.
        """
        if self.rate is not None:
            await self.rate.acquire()
        if self.in_flight is None:
            yield
            return
        async with self.in_flight:
            yield


class GatedFetcher:
    """A `Fetcher` that sends each fetch of `inner` through `gate`."""

    def __init__(self, inner: Fetcher, gate: RequestGate) -> None:
        self.inner = inner
        self.gate = gate
        self.backend_name = inner.backend_name

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def fetch(self, url: str) -> Page:
        async with self.gate.admit():
            return await self.inner.fetch(url)


@dataclass(slots=True)
class _HostSlots:
    limiter: anyio.CapacityLimiter
    users: int = 0  # fetches holding or waiting for a slot; the entry goes when it drops to 0


class PerHostLimitedFetcher:
    """A `Fetcher` that lets at most `max_per_host` fetches of `inner` run at once per host.

    Hosts are keyed by scheme, host name and port (`host_key`), so two servers
    on one address but different ports count apart. A host's limiter exists
    only while a fetch to it is running or waiting, so a long-running server
    keeps no entry per host it ever saw.

    NOTE: the limit applies to the URL requested; redirects to another host
    followed inside `inner` count against the first host.
    """

    def __init__(self, inner: Fetcher, max_per_host: int) -> None:
        if max_per_host < 1:
            raise ValueError(f"max_per_host={max_per_host} is invalid; use 1 or more")
        self.inner = inner
        self.max_per_host = max_per_host
        self.backend_name = inner.backend_name
        self._hosts: dict[str, _HostSlots] = {}

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def fetch(self, url: str) -> Page:
        key = host_key(url)
        slots = self._hosts.get(key)
        if slots is None:
            slots = self._hosts[key] = _HostSlots(anyio.CapacityLimiter(self.max_per_host))
        slots.users += 1
        try:
            async with slots.limiter:
                return await self.inner.fetch(url)
        finally:
            slots.users -= 1
            if slots.users == 0:
                del self._hosts[key]

    def hosts_in_use(self) -> int:
        """Return how many hosts have a fetch running or waiting."""
        return len(self._hosts)


def host_key(url: str) -> str:
    """Return `scheme://host:port` of `url`, with the scheme's default port filled in.

    >>> host_key("https://Shop.example/p/1")
    'https://shop.example:443'
    >>> host_key("http://127.0.0.1:8080/a")
    'http://127.0.0.1:8080'
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number; the fetch itself reports the invalid URL
        return f"{scheme}://{parts.netloc.lower()}"
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"

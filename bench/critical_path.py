"""The network-only lower bound of a run, computed from the sandbox Bright Data's request log."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from product_extractor.tools.extract import FanOutOptions


@dataclass(frozen=True, slots=True)
class UrlPath:
    """One input URL's critical path: its listing request, then its product requests on its limiter."""

    url: str
    listing_seconds: float
    product_seconds: list[float]  # durations in listing order
    slots: int

    @property
    def seconds(self) -> float:
        return self.listing_seconds + schedule_makespan(self.product_seconds, self.slots)


def schedule_makespan(durations: Iterable[float], slots: int) -> float:
    """Return when the last of `durations` ends if each starts, in order, on the first of `slots` to free.

    This is how `anyio.CapacityLimiter` admits a listing's product fetches when
    nothing but the requests themselves takes time.
    """
    free_at = [0.0] * slots
    end = 0.0
    for duration in durations:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + duration)
        end = max(end, start + duration)
    return end


def url_paths(
    records: Sequence[Mapping[str, Any]],
    product_urls: Mapping[str, list[str]],
    *,
    options: FanOutOptions | None = None,
) -> list[UrlPath]:
    """Build each listing URL's path from the log `records` of one run.

    `product_urls` maps each listing URL to its product URLs in listing order.
    A product URL requested more than once counts with its last request.
    """
    options = options or FanOutOptions()
    duration_by_target = {
        record["target_url"]: record["end_monotonic"] - record["start_monotonic"]
        for record in records
        if record.get("target_url")
    }

    paths = []
    for listing_url, products in product_urls.items():
        missing = [url for url in [listing_url, *products] if url not in duration_by_target]
        if missing:
            raise ValueError(f"the sandbox log has no request for {len(missing)} URLs, first {missing[0]}")
        slots = (
            options.listing_concurrency
            if len(products) > options.small_listing_max
            else options.small_listing_concurrency
        )
        paths.append(
            UrlPath(
                url=listing_url,
                listing_seconds=duration_by_target[listing_url],
                product_seconds=[duration_by_target[url] for url in products],
                slots=slots,
            )
        )
    return paths

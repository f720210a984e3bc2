"""Backend parts the fan-out needs beyond page fetching: dataset collection and pricing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from product_extractor.products import Product


@dataclass
class DatasetBatch:
    """Products a dataset returned for a batch of product URLs, keyed by the URL asked for."""

    products: dict[str, Product] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # URL → why the dataset gave no product for it
    requests: int = 0  # API calls made: scrape, progress polls, downloads
    billed_records: int = 0
    # A snapshot still being built when the deadline came; its records are paid for and can
    # be downloaded later with this id.
    pending_snapshot_id: str | None = None
    cut_short_by_cost: bool = False  # a spending cap kept some of the URLs from being requested
    retries: int = 0  # API calls repeated after a transient failure


class DatasetCollector(Protocol):
    """A source of product records for URLs a ready-made dataset covers (Bright Data's Web Scraper API)."""

    def covers(self, url: str) -> bool: ...

    async def collect(self, urls: list[str], *, timeout_s: float) -> DatasetBatch: ...


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in USD that turn billed requests and records into an estimated cost."""

    usd_per_1000_requests: float = 1.50
    usd_per_1000_records: float = 1.00

    def cost(self, *, requests: int, records: int) -> float:
        return requests * self.usd_per_1000_requests / 1000 + records * self.usd_per_1000_records / 1000

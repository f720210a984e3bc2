"""Wire the fetching backends together: direct, Bright Data's unlocker and datasets, and auto."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import anyio
import httpcore2
from mcp.server.mcpserver.exceptions import ToolError

from product_extractor.brightdata.cost import CostMeter
from product_extractor.brightdata.datasets import Dataset, dataset_for
from product_extractor.brightdata.errors import BrightDataError
from product_extractor.brightdata.scraper import MAX_URLS_PER_SCRAPE, ScraperConfig, WebScraperClient
from product_extractor.brightdata.unlocker import UnlockerConfig, WebUnlockerFetcher
from product_extractor.server.settings import Settings
from product_extractor.tools.backends import DatasetBatch, DatasetCollector, Pricing
from product_extractor.web.auto import AutoFetcher
from product_extractor.web.direct import DirectFetcher
from product_extractor.web.fetcher import BudgetExceeded, Fetcher, FetchError
from product_extractor.web.limits import GatedFetcher, PerHostLimitedFetcher, RequestGate
from product_extractor.web.page_cache import CachedFetcher, PageCache
from product_extractor.web.retry import RetryingFetcher
from product_extractor.web.url_check import UrlCheckedFetcher

logger = logging.getLogger(__name__)

BACKENDS = ("direct", "brightdata", "auto")


@dataclass
class Backends:
    """The long-lived clients of one server process; Bright Data's exist only with a token.

    `in_flight` bounds the requests in flight across every backend and call of
    the process. `direct` is the direct fetcher behind the per-host limit and
    `in_flight`, so the auto backend's direct requests are limited too.
    """

    settings: Settings
    direct: Fetcher
    in_flight: anyio.CapacityLimiter
    unlocker: WebUnlockerFetcher | None = None
    scraper: WebScraperClient | None = None
    page_cache: PageCache | None = None  # None when the settings turn the cache off

    @classmethod
    def open(cls, settings: Settings) -> Backends:
        in_flight = anyio.CapacityLimiter(settings.max_in_flight)
        direct = PerHostLimitedFetcher(
            GatedFetcher(open_direct_fetcher(settings), RequestGate(in_flight=in_flight)),
            settings.max_per_host,
        )
        backends = cls(settings=settings, direct=direct, in_flight=in_flight)
        cache_config = settings.page_cache_config()
        if cache_config is not None:
            backends.page_cache = PageCache(cache_config)
        token = settings.brightdata_api_token
        if token is not None:
            # One rate limit for both Bright Data APIs, as one account's requests.
            gate = RequestGate(in_flight=in_flight, rate=settings.brightdata_rate().limiter())
            backends.unlocker = WebUnlockerFetcher(
                UnlockerConfig(
                    token=token,
                    zone=settings.brightdata_zone,
                    base_url=settings.brightdata_api_url,
                    country=settings.brightdata_country,
                    request_timeout_s=settings.brightdata_request_timeout_s,
                    max_bytes=settings.max_page_bytes,
                    body_timeout_s=settings.body_timeout_s,
                ),
                gate=gate,
            )
            backends.scraper = WebScraperClient(
                ScraperConfig(
                    token=token, base_url=settings.brightdata_api_url, retry=settings.retry_policy()
                ),
                gate=gate,
            )
        return backends

    async def aclose(self) -> None:
        if self.page_cache is not None:
            await self.page_cache.aclose()
        await self.direct.aclose()
        if self.unlocker is not None:
            await self.unlocker.aclose()
        if self.scraper is not None:
            await self.scraper.aclose()

    def pricing(self) -> Pricing:
        return Pricing(
            usd_per_1000_requests=self.settings.brightdata_usd_per_1000_requests,
            usd_per_1000_records=self.settings.brightdata_usd_per_1000_records,
        )

    def for_call(
        self, backend: str | None, *, max_cost_usd: float | None, no_cache: bool = False
    ) -> CallBackend:
        """Return the fetcher and dataset collector one call uses, with its own cost meter.

        With `no_cache` the call's fetcher skips page cache lookups but still stores the
        pages it fetches. Raises ToolError when the backend needs a Bright Data token that
        is not set.
        """
        name = backend or self.settings.default_backend()
        if name == "direct":
            direct = self._checked(self._cached(self._retrying(self.direct), name, no_cache))
            return CallBackend(name=name, fetcher=direct, collector=None)

        if self.unlocker is None or self.scraper is None:
            raise ToolError(
                f"backend {name!r} needs a Bright Data API token: set BRIGHTDATA_API_TOKEN in the server's "
                "environment, or call with backend 'direct'"
            )
        meter = CostMeter(
            usd_per_1000_requests=self.settings.brightdata_usd_per_1000_requests,
            usd_per_1000_records=self.settings.brightdata_usd_per_1000_records,
            max_cost_usd=max_cost_usd,
        )
        unlocker = self.unlocker.with_meter(meter)
        if name == "auto":
            auto = self._retrying(AutoFetcher(self.direct, unlocker))
            return CallBackend(
                name=name, fetcher=self._checked(self._cached(auto, name, no_cache)), collector=None
            )
        # NOTE: dataset records are not cached: a repeated call bills a product URL that a
        # dataset covers again. Only the Web Unlocker's pages are.
        return CallBackend(
            name=name,
            fetcher=self._checked(self._cached(self._retrying(unlocker), name, no_cache), check_port=False),
            collector=ScraperCollector(self.scraper.with_meter(meter)),
        )

    def _checked(self, fetcher: Fetcher, *, check_port: bool = True) -> Fetcher:
        """Put the URL-safety check in front of `fetcher`, its page cache included."""
        return UrlCheckedFetcher(fetcher, self.settings.url_policy(), check_port=check_port)

    def _retrying(self, inner: Fetcher) -> Fetcher:
        return RetryingFetcher(inner, self.settings.retry_policy())

    def _cached(self, fetcher: Fetcher, backend: str, no_cache: bool) -> Fetcher:
        """Wrap `fetcher` in the page cache, keyed by the call's `backend`, unless the cache is off."""
        if self.page_cache is None:
            return fetcher
        return CachedFetcher(fetcher, self.page_cache, backend=backend, read=not no_cache)


def open_direct_fetcher(
    settings: Settings, *, connector: httpcore2.AsyncNetworkBackend | None = None
) -> DirectFetcher:
    """Return a direct fetcher with the limits, URL-safety allow-list and robots.txt options of `settings`.

    `connector` replaces the TCP connect, for tests that must see every connection.
    """
    return DirectFetcher(
        settings.fetch_limits(),
        policy=settings.url_policy(),
        robots=settings.robots_options(),
        connector=connector,
    )


@dataclass(frozen=True, slots=True)
class CallBackend:
    """The fetcher and dataset collector that one tool call uses."""

    name: str
    fetcher: Fetcher
    collector: DatasetCollector | None


class ScraperCollector:
    """A `DatasetCollector` over Bright Data's Web Scraper API: one scrape per dataset and 20 URLs."""

    def __init__(self, scraper: WebScraperClient) -> None:
        self.scraper = scraper

    def covers(self, url: str) -> bool:
        return dataset_for(url) is not None

    async def collect(self, urls: list[str], *, timeout_s: float) -> DatasetBatch:
        batch = DatasetBatch()
        if timeout_s <= 0:
            batch.errors = {url: f"{url} timed out before its dataset request could start" for url in urls}
            return batch

        chunks: dict[Dataset, list[str]] = defaultdict(list)
        for url in urls:
            dataset = dataset_for(url)
            if dataset is not None:
                chunks[dataset].append(url)
            else:
                batch.errors[url] = f"no Bright Data dataset covers {url}"

        async with anyio.create_task_group() as group:
            for dataset, dataset_urls in chunks.items():
                for start in range(0, len(dataset_urls), MAX_URLS_PER_SCRAPE):
                    chunk = dataset_urls[start : start + MAX_URLS_PER_SCRAPE]
                    group.start_soon(self._collect_chunk, dataset, chunk, timeout_s, batch)
        return batch

    async def _collect_chunk(
        self, dataset: Dataset, urls: list[str], timeout_s: float, batch: DatasetBatch
    ) -> None:
        try:
            result = await self.scraper.scrape(urls, timeout_s=timeout_s, dataset=dataset)
        except FetchError as error:
            # A failure of the whole call (a rejected token, a rate limit) is every URL's failure.
            batch.requests += error.requests
            batch.retries += error.retries
            snapshot_id = error.snapshot_id if isinstance(error, BrightDataError) else None
            batch.pending_snapshot_id = batch.pending_snapshot_id or snapshot_id
            batch.cut_short_by_cost = batch.cut_short_by_cost or isinstance(error, BudgetExceeded)
            for url in urls:
                batch.errors[url] = str(error)
            return

        batch.requests += result.requests
        batch.billed_records += result.billed_records
        batch.retries += result.retries
        if result.pending:
            batch.pending_snapshot_id = batch.pending_snapshot_id or result.snapshot_id
        for url, outcome in result.outcomes.items():
            if isinstance(outcome, list) and outcome:
                batch.products[url] = outcome[0]
            elif isinstance(outcome, list):
                batch.errors[url] = f"the {dataset.name} dataset returned no product for {url}"
            else:
                batch.errors[url] = str(outcome)

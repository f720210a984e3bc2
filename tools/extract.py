"""The `extract_products` fan-out: every URL at once, each listing's product pages under a limiter."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from product_extractor.products import Product
from product_extractor.products.parse import ParsedPage
from product_extractor.tools.arguments import ExtractProductsArguments
from product_extractor.tools.backends import DatasetBatch, DatasetCollector, Pricing
from product_extractor.tools.parsing import parse_off_loop, start_parse_workers
from product_extractor.tools.results import (
    ExtractionResult,
    ExtractionStats,
    PageKindSeen,
    UrlResult,
    UrlStatus,
    product_record,
)
from product_extractor.web.fetch_once import FetchOnceFetcher
from product_extractor.web.fetcher import BudgetExceeded, Fetcher, FetchError, Page

logger = logging.getLogger(__name__)

# Seconds a dataset call ends before its URL's deadline, to report a pending snapshot in time.
DATASET_DEADLINE_MARGIN_S = 1.0

# Worker threads that parse pages at once when PARSE_PROCESSES is 0, shared by a server's calls.
# parse_page holds the GIL for most of its work, so more threads add no throughput. With
# anyio's default of 40, the parse threads starved the event loop: reads of finished responses
# fell seconds behind, and a reused keep-alive connection could reach the server after its
# idle timeout had closed it.
PARSE_THREADS = 2

# Product pages of one listing that may be fetched and waiting for a parse worker, per slot
# of the listing's request limiter.
HELD_PAGES_PER_REQUEST_SLOT = 2

# Called with (input URL, products just found, products found so far for that URL, products expected).
ProductsCallback = Callable[[str, list[Product], int, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FanOutOptions:
    """Concurrency bounds that keep one call from pushing a shop too hard."""

    # Product pages in flight per listing URL: the larger bound once a listing yields more
    # than `small_listing_max` products, the smaller one below that.
    listing_concurrency: int = 10
    small_listing_concurrency: int = 5
    small_listing_max: int = 10
    max_listing_pages: int = 5  # listing pages followed through pagination per input URL
    # Worker processes that parse pages, so parsing uses more than one core; 0 parses in
    # threads of this process, which starts faster but shares one core's worth of GIL.
    parse_processes: int = 0
    parse_timeout_s: float = 30.0  # seconds parsing one page may take before that page fails
    # Bounds on the whole call; None leaves the bound off.
    job_timeout_s: float | None = None  # seconds after which every URL still running ends
    max_products: int | None = None  # products over all URLs; see ProductBudget


class ProductBudget:
    """The products one call may still extract, shared by its URLs.

    A URL takes what it needs as soon as that number is known: a listing once
    it has its product links, so the product pages past the limit are never
    fetched.
    NOTE: first come, first served, so which URLs are cut short depends on
    which listing pages arrive first.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.taken = 0

    def take(self, wanted: int) -> int:
        """Take up to `wanted` products from the budget and return how many were granted."""
        granted = wanted if self.limit is None else max(0, min(wanted, self.limit - self.taken))
        self.taken += granted
        return granted


def new_parse_limiter(options: FanOutOptions) -> anyio.CapacityLimiter:
    """Return a limiter of the pages parsed at once: one per parse worker process, or PARSE_THREADS."""
    return anyio.CapacityLimiter(options.parse_processes or PARSE_THREADS)


async def extract_products(
    arguments: ExtractProductsArguments,
    fetcher: Fetcher,
    *,
    collector: DatasetCollector | None = None,
    pricing: Pricing | None = None,
    backend: str = "direct",
    options: FanOutOptions | None = None,
    on_products: ProductsCallback | None = None,
    on_cancelled: Callable[[ExtractionResult], None] | None = None,
    job_id: str | None = None,
    parse_limiter: anyio.CapacityLimiter | None = None,
) -> ExtractionResult:
    """Extract products from every URL in `arguments` concurrently and return the combined result.

    Pages come from `fetcher`; product URLs that `collector` covers come from its
    dataset instead. One URL failing or running out of time never costs another
    URL its products. When the call is cancelled, `on_cancelled` receives the
    products found so far before the cancellation goes on. `parse_limiter` bounds
    the pages parsed at once. A server passes one limiter to all its calls, so
    they share its parse workers. Without it, the call gets a limiter of its own.
    """
    options = options or FanOutOptions()
    pricing = pricing or Pricing()
    job_id = job_id or uuid.uuid4().hex[:12]
    started = time.monotonic()
    urls, duplicates = arguments.unique_urls()
    fetcher = FetchOnceFetcher(fetcher)
    parse_limiter = parse_limiter or new_parse_limiter(options)
    job_deadline = started + options.job_timeout_s if options.job_timeout_s is not None else math.inf
    budget = ProductBudget(options.max_products)
    jobs = [
        _UrlJob(
            url=url,
            arguments=arguments,
            fetcher=fetcher,
            collector=collector,
            options=options,
            on_products=on_products,
            job_id=job_id,
            parse_limiter=parse_limiter,
            budget=budget,
            job_deadline=job_deadline,
        )
        for url in urls
    ]
    logger.info("job %s: extracting products, URLs: %d", job_id, len(jobs))

    try:
        async with anyio.create_task_group() as group:
            if options.parse_processes:
                group.start_soon(start_parse_workers, parse_limiter)
            for job in jobs:
                group.start_soon(job.run)
    except anyio.get_cancelled_exc_class():
        found = sum(len(job.products()) for job in jobs)
        logger.info("job %s: cancelled after %.2f s, products: %d", job_id, time.monotonic() - started, found)
        if on_cancelled is not None:
            now = time.monotonic()
            for job in jobs:
                job.mark_cancelled(now)
            partial = _combine(
                jobs, arguments, duplicates, pricing=pricing, backend=backend, wall_seconds=now - started
            )
            partial.status = "cancelled"
            on_cancelled(partial)
        raise

    result = _combine(
        jobs, arguments, duplicates, pricing=pricing, backend=backend, wall_seconds=time.monotonic() - started
    )
    logger.info(
        "job %s: finished in %.2f s, products: %d, requests: %d, cache hits: %d, retries: %d",
        job_id,
        result.stats.wall_seconds,
        result.stats.products,
        result.stats.requests,
        result.stats.cache_hits,
        result.stats.retries,
    )
    return result


@dataclass
class _UrlJob:
    """The state of one input URL while its pages are fetched."""

    url: str
    arguments: ExtractProductsArguments
    fetcher: Fetcher
    collector: DatasetCollector | None
    options: FanOutOptions
    on_products: ProductsCallback | None
    job_id: str
    parse_limiter: anyio.CapacityLimiter
    budget: ProductBudget
    job_deadline: float  # time.monotonic() when the whole call's time is up; math.inf for none

    page_kind: PageKindSeen = "unknown"
    slots: list[Product | None] = field(default_factory=list)  # in listing order
    product_links: int = 0
    failed_product_pages: int = 0
    first_product_error: str | None = None
    error: str | None = None
    timed_out: bool = False
    requests: int = 0
    pages_parsed: int = 0
    seconds: float = 0.0
    started: float = 0.0  # time.monotonic() when this URL began
    finished: bool = False
    cancelled: bool = False
    deadline: float = 0.0  # time.monotonic() when this URL's time is up
    backends_used: set[str] = field(default_factory=set)
    fallbacks: int = 0
    billed_requests: int = 0
    billed_records: int = 0
    cut_short_by_cost: bool = False
    snapshot_id: str | None = None
    cache_hits: int = 0
    retries: int = 0
    stopped_by_job_deadline: bool = False  # the call's deadline, not timeout_s, ended this URL
    products_over_limit: int = 0  # products left out because the call reached max_products

    async def run(self) -> None:
        started = self.started = time.monotonic()
        url_deadline = started + self.arguments.timeout_s
        self.deadline = min(url_deadline, self.job_deadline)
        logger.info("job %s: start %s", self.job_id, self.url)

        with anyio.move_on_after(self.deadline - started) as deadline:
            try:
                await self._extract()
            except FetchError as error:
                self.error = str(error)
                self.cut_short_by_cost = self.cut_short_by_cost or isinstance(error, BudgetExceeded)
            except Exception as error:
                logger.exception("job %s: unexpected error on %s", self.job_id, self.url)
                self.error = f"internal error while extracting {self.url}: {type(error).__name__}: {error}"
        self.timed_out = deadline.cancelled_caught
        self.stopped_by_job_deadline = self.timed_out and self.job_deadline < url_deadline
        self.seconds = time.monotonic() - started
        self.finished = True

        found = sum(product is not None for product in self.slots)
        if self.error or self.timed_out or self.failed_product_pages:
            logger.warning("job %s: %s ended %s: %s", self.job_id, self.url, self.status(), self.message())
        else:
            logger.info("job %s: %s done, products: %d, %.2f s", self.job_id, self.url, found, self.seconds)

    async def _extract(self) -> None:
        if self.collector is not None and self.collector.covers(self.url):
            self.page_kind = "product"
            if not self._take_from_budget(1):
                return
            self.slots = [None]
            await self._collect_from_dataset([self.url], positions=None)
            if self.slots[0] is None and not self.error:
                self.error = self.first_product_error
            return

        parsed = await self._fetch_and_parse(self.url)
        self.page_kind = parsed.kind

        if parsed.product_links and (parsed.kind == "listing" or not parsed.products):
            self.page_kind = "listing"
            await self._extract_listing(parsed)
        elif parsed.kind == "listing" and parsed.products:
            # A listing that carries its products inline (a JSON-LD ItemList) needs no further requests.
            inline = parsed.products[: self.arguments.max_products_per_url]
            granted = self._take_from_budget(len(inline))
            products = [
                product.model_copy(update={"listing_url": self.url, "position": index + 1})
                for index, product in enumerate(inline[:granted])
            ]
            await self._add_all(products)
        elif parsed.products:
            self.page_kind = "product"
            if self._take_from_budget(1):
                await self._add_all(parsed.products[:1])
        else:
            self.error = (
                f"{self.url} has no product data and no product links; pass a product page or a "
                "category/search page of a shop"
            )

    async def _extract_listing(self, first_page: ParsedPage) -> None:
        links = await self._collect_product_links(first_page)
        self.product_links = len(links)
        links = links[: self._take_from_budget(len(links))]
        self.slots = [None] * len(links)

        concurrency = (
            self.options.listing_concurrency
            if len(links) > self.options.small_listing_max
            else self.options.small_listing_concurrency
        )
        limiter = anyio.CapacityLimiter(concurrency)
        held = anyio.CapacityLimiter(concurrency * HELD_PAGES_PER_REQUEST_SLOT)
        covered = {
            link: position
            for position, link in enumerate(links, start=1)
            if self.collector is not None and self.collector.covers(link)
        }
        async with anyio.create_task_group() as group:
            if covered:
                group.start_soon(self._collect_listed_products, covered)
            for position, link in enumerate(links, start=1):
                if link not in covered:
                    group.start_soon(self._extract_listed_product, link, position, limiter, held)

        if links and self.failed_product_pages == len(links):
            self.error = f"every product page of {self.url} failed; first error: {self.first_product_error}"

    async def _collect_product_links(self, first_page: ParsedPage) -> list[str]:
        """Return up to `max_products_per_url` product links, following pagination while short."""
        wanted = self.arguments.max_products_per_url
        links = dict.fromkeys(first_page.product_links)  # a dict keeps page order and drops repeats
        visited = {self.url, first_page.url}
        next_url = first_page.next_page_url
        pages = 1

        while (
            len(links) < wanted
            and next_url
            and next_url not in visited
            and pages < self.options.max_listing_pages
        ):
            visited.add(next_url)
            try:
                parsed = await self._fetch_and_parse(next_url)
            except FetchError as error:
                logger.warning("job %s: listing page %s failed: %s", self.job_id, next_url, error)
                break
            pages += 1
            links.update(dict.fromkeys(parsed.product_links))
            next_url = parsed.next_page_url

        return list(links)[:wanted]

    async def _extract_listed_product(
        self, link: str, position: int, limiter: anyio.CapacityLimiter, held: anyio.CapacityLimiter
    ) -> None:
        # `limiter` bounds the requests in flight to the shop and is released once the page
        # is read, so parsing never holds back the next request. `held` bounds the pages
        # fetched and not yet parsed, so a parse backlog cannot pile up every page in memory.
        async with held:
            try:
                parsed = await self._fetch_and_parse(link, fetch_limiter=limiter)
            except FetchError as error:
                self._product_page_failed(str(error))
                return
            except Exception as error:
                logger.exception("job %s: unexpected error on product page %s", self.job_id, link)
                self._product_page_failed(f"internal error on {link}: {type(error).__name__}: {error}")
                return

        if not parsed.products:
            self._product_page_failed(f"{link} has no product data")
            return

        product = parsed.products[0].model_copy(update={"listing_url": self.url, "position": position})
        self.slots[position - 1] = product
        await self._announce([product])

    async def _collect_listed_products(self, positions: dict[str, int]) -> None:
        await self._collect_from_dataset(list(positions), positions=positions)

    async def _collect_from_dataset(self, urls: list[str], *, positions: dict[str, int] | None) -> None:
        """Fetch `urls` from the collector's dataset and put each product in its listing slot."""
        assert self.collector is not None
        self.backends_used.add("brightdata-dataset")
        try:
            batch: DatasetBatch = await self.collector.collect(urls, timeout_s=self._dataset_time_left())
        except FetchError as error:
            self.requests += error.requests
            self.billed_requests += error.billed_requests
            self.retries += error.retries
            self.cut_short_by_cost = self.cut_short_by_cost or isinstance(error, BudgetExceeded)
            for _url in urls:
                self._product_page_failed(str(error))
            return

        self.requests += batch.requests
        self.billed_records += batch.billed_records
        self.retries += batch.retries
        self.snapshot_id = self.snapshot_id or batch.pending_snapshot_id
        self.cut_short_by_cost = self.cut_short_by_cost or batch.cut_short_by_cost
        found: list[Product] = []
        for url in urls:
            product = batch.products.get(url)
            if product is None:
                self._product_page_failed(
                    batch.errors.get(url) or f"the dataset returned no record for {url}"
                )
                continue
            if positions is not None:
                product = product.model_copy(update={"listing_url": self.url, "position": positions[url]})
            self.slots[(positions[url] if positions is not None else 1) - 1] = product
            found.append(product)
        if found:
            await self._announce(found)

    def _dataset_time_left(self) -> float:
        """Return the seconds a dataset call may take: the URL's time left, less a margin.

        The margin lets a snapshot still running at the deadline be reported with its
        id before the URL's own deadline cancels the call and loses it.
        """
        margin = min(DATASET_DEADLINE_MARGIN_S, self.arguments.timeout_s / 10)
        return self.deadline - time.monotonic() - margin

    def _take_from_budget(self, wanted: int) -> int:
        """Take up to `wanted` products from the call's budget; record the ones left out."""
        granted = self.budget.take(wanted)
        self.products_over_limit += wanted - granted
        return granted

    def _product_page_failed(self, message: str) -> None:
        self.failed_product_pages += 1
        if self.first_product_error is None:
            self.first_product_error = message

    async def _add_all(self, products: list[Product]) -> None:
        self.slots = list(products)
        await self._announce(products)

    async def _announce(self, products: list[Product]) -> None:
        if self.on_products is None:
            return
        found = sum(product is not None for product in self.slots)
        await self.on_products(self.url, products, found, len(self.slots))

    async def _fetch_and_parse(
        self, url: str, *, fetch_limiter: anyio.CapacityLimiter | None = None
    ) -> ParsedPage:
        if fetch_limiter is None:
            page = await self._fetch(url)
        else:
            async with fetch_limiter:
                page = await self._fetch(url)
        return await self._parse(page)

    async def _fetch(self, url: str) -> Page:
        # The first request counts as soon as it starts, so a URL cut off by its deadline still
        # reports the request it made. Redirects are added once the fetch ends.
        self.requests += 1
        self.backends_used.add(self.fetcher.backend_name)
        try:
            page: Page = await self.fetcher.fetch(url)
        except FetchError as error:
            self.requests += error.requests - 1
            self.billed_requests += error.billed_requests
            self.retries += error.retries
            self.cut_short_by_cost = self.cut_short_by_cost or isinstance(error, BudgetExceeded)
            raise
        self.requests += page.requests - 1
        self.billed_requests += page.billed_requests
        self.retries += page.retries
        self.backends_used.add(page.backend)
        if page.fallback_reason is not None:
            self.fallbacks += 1
        if page.cache_age_s is not None:
            self.cache_hits += 1
        return page

    async def _parse(self, page: Page) -> ParsedPage:
        # Parsing a large page takes tens of milliseconds; a worker thread or process keeps
        # the other URLs' requests moving meanwhile.
        parsed = await parse_off_loop(
            page,
            processes=self.options.parse_processes > 0,
            limiter=self.parse_limiter,
            timeout_s=self.options.parse_timeout_s,
        )
        self.pages_parsed += 1
        if page.cache_age_s is None:
            return parsed
        provenance = {"from_cache": True, "cache_age_s": round(page.cache_age_s, 3)}
        products = [product.model_copy(update=provenance) for product in parsed.products]
        return dataclasses.replace(parsed, products=products)

    def products(self) -> list[Product]:
        return [product for product in self.slots if product is not None]

    def mark_cancelled(self, now: float) -> None:
        """Record that the client cancelled the call while this URL was still running."""
        if not self.finished:
            self.cancelled = True
            self.seconds = now - self.started if self.started else 0.0

    def status(self) -> UrlStatus:
        found = len(self.products())
        if found == 0:
            return "failed"
        if (
            self.error
            or self.timed_out
            or self.failed_product_pages
            or self.cancelled
            or self.products_over_limit
        ):
            return "partial"
        return "ok"

    def message(self) -> str | None:
        found = len(self.products())
        if self.cancelled:
            done = f" with {found} of {len(self.slots)} product pages done" if self.slots else ""
            return f"{self.url} was cancelled by the client{done}"
        if self.timed_out and self.stopped_by_job_deadline:
            done = f" with {found} of {len(self.slots)} product pages done" if self.slots else ""
            return (
                f"{self.url} was stopped by the server's deadline for a whole call, "
                f"{self.options.job_timeout_s:g} s (PRODUCT_EXTRACTOR_JOB_TIMEOUT_S){done}; pass fewer URLs "
                "or a smaller max_products_per_url"
            )
        if self.timed_out:
            done = f" with {found} of {len(self.slots)} product pages done" if self.slots else ""
            return (
                f"{self.url} timed out after {self.arguments.timeout_s:g} s{done}; retry with a larger "
                "timeout_s or a smaller max_products_per_url"
            )
        if self.error:
            return self.error
        if self.cut_short_by_cost:
            return (
                f"cut short by max_cost_usd: {self.failed_product_pages} of {len(self.slots)} product pages "
                "were not fetched; raise max_cost_usd to get them"
            )
        if self.failed_product_pages:
            return (
                f"{self.failed_product_pages} of {len(self.slots)} product pages failed; "
                f"first error: {self.first_product_error}"
            )
        if self.products_over_limit:
            return (
                f"the call reached the server's limit of {self.budget.limit} products per call "
                f"(PRODUCT_EXTRACTOR_MAX_PRODUCTS_PER_CALL), so {self.products_over_limit} of the products "
                f"of {self.url} were left out; pass fewer URLs or a smaller max_products_per_url"
            )
        return None

    def url_result(self, pricing: Pricing) -> UrlResult:
        return UrlResult(
            url=self.url,
            status=self.status(),
            error=self.message(),
            page_kind=self.page_kind,
            products_found=len(self.products()),
            product_links=self.product_links,
            failed_product_pages=self.failed_product_pages,
            seconds=round(self.seconds, 3),
            requests=self.requests,
            pages_parsed=self.pages_parsed,
            backend="+".join(sorted(self.backends_used)) or "direct",
            fallbacks=self.fallbacks,
            billed_requests=self.billed_requests,
            billed_records=self.billed_records,
            estimated_cost_usd=round(
                pricing.cost(requests=self.billed_requests, records=self.billed_records), 6
            ),
            cut_short_by_cost=self.cut_short_by_cost,
            snapshot_id=self.snapshot_id,
            cache_hits=self.cache_hits,
            retries=self.retries,
            timed_out=self.timed_out,
            cut_short_by_product_limit=self.products_over_limit > 0,
        )


def _combine(
    jobs: list[_UrlJob],
    arguments: ExtractProductsArguments,
    duplicates: list[str],
    *,
    pricing: Pricing,
    backend: str,
    wall_seconds: float,
) -> ExtractionResult:
    fields: list[str] | None = list(arguments.fields) if arguments.fields is not None else None
    url_results = [job.url_result(pricing) for job in jobs]
    billed_requests = sum(result.billed_requests for result in url_results)
    billed_records = sum(result.billed_records for result in url_results)
    products = [product_record(product, fields) for job in jobs for product in job.products()]
    stats = ExtractionStats(
        wall_seconds=round(wall_seconds, 3),
        requests=sum(result.requests for result in url_results),
        pages_parsed=sum(result.pages_parsed for result in url_results),
        urls=len(url_results),
        urls_ok=sum(result.status == "ok" for result in url_results),
        urls_partial=sum(result.status == "partial" for result in url_results),
        urls_failed=sum(result.status == "failed" for result in url_results),
        products=len(products),
        backend=backend,
        billed_requests=billed_requests,
        billed_records=billed_records,
        estimated_cost_usd=round(pricing.cost(requests=billed_requests, records=billed_records), 6),
        cost_cap_reached=any(result.cut_short_by_cost for result in url_results),
        cache_hits=sum(result.cache_hits for result in url_results),
        retries=sum(result.retries for result in url_results),
        job_timed_out=any(job.stopped_by_job_deadline for job in jobs),
        product_limit_reached=any(result.cut_short_by_product_limit for result in url_results),
    )
    return ExtractionResult(
        products=products, url_results=url_results, duplicate_urls=duplicates, stats=stats
    )

"""The result of `extract_products`: products, one entry per URL, and job statistics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from product_extractor.products import Product
from product_extractor.tools.arguments import ALWAYS_RETURNED

UrlStatus = Literal["ok", "partial", "failed"]
PageKindSeen = Literal["product", "listing", "other", "unknown"]


class UrlResult(BaseModel):
    """The outcome of one input URL."""

    url: str = Field(description="the input URL, normalised")
    status: UrlStatus = Field(
        description="ok: every product found; partial: some products, some failures or the deadline hit; "
        "failed: no products"
    )
    error: str | None = Field(default=None, description="why the URL failed or is partial, and what to try")
    page_kind: PageKindSeen = Field(default="unknown", description="what the URL turned out to be")
    products_found: int = Field(default=0, description="products returned for this URL")
    product_links: int = Field(default=0, description="listing pages: product links found (up to the cap)")
    failed_product_pages: int = Field(default=0, description="listing pages: product pages that failed")
    seconds: float = Field(default=0.0, description="wall time spent on this URL")
    requests: int = Field(default=0, description="HTTP requests made for this URL, redirects included")
    pages_parsed: int = 0
    backend: str = Field(
        default="direct",
        description="what served this URL's pages: direct, brightdata-unlocker, brightdata-dataset, "
        "or several joined by '+'",
    )
    fallbacks: int = Field(
        default=0, description="auto backend: pages refetched through Bright Data as blocked"
    )
    billed_requests: int = Field(default=0, description="requests Bright Data bills for this URL")
    billed_records: int = Field(default=0, description="dataset records Bright Data bills for this URL")
    estimated_cost_usd: float = Field(
        default=0.0, description="billed requests and records at the set prices"
    )
    cut_short_by_cost: bool = Field(
        default=False, description="true when max_cost_usd stopped this URL's requests"
    )
    snapshot_id: str | None = Field(
        default=None, description="a dataset snapshot still running at the deadline; its records are paid for"
    )
    cache_hits: int = Field(
        default=0,
        description="pages served from the page cache; they count in neither requests nor billed_requests",
    )
    retries: int = Field(
        default=0, description="requests repeated after a timeout, 429 or 5xx; counted in `requests` too"
    )
    timed_out: bool = Field(
        default=False,
        description="true when this URL's timeout_s or the server's deadline for the whole call ended it",
    )
    cut_short_by_product_limit: bool = Field(
        default=False,
        description="true when the server's limit of products per call left some of this URL's products out",
    )


class ExtractionStats(BaseModel):
    """Totals for the whole call."""

    wall_seconds: float
    requests: int
    pages_parsed: int
    urls: int
    urls_ok: int
    urls_partial: int
    urls_failed: int
    products: int
    backend: str = Field(default="direct", description="the backend the call ran with")
    billed_requests: int = 0
    billed_records: int = 0
    estimated_cost_usd: float = Field(
        default=0.0, description="an estimate from the set prices, not an invoice"
    )
    cost_cap_reached: bool = Field(default=False, description="true when max_cost_usd cut some URL short")
    cache_hits: int = Field(
        default=0, description="pages served from the page cache, at no request and no cost"
    )
    retries: int = Field(default=0, description="requests repeated after a transient failure, all URLs")
    job_timed_out: bool = Field(
        default=False, description="true when the server's deadline for the whole call ended some URL"
    )
    product_limit_reached: bool = Field(
        default=False, description="true when the server's limit of products per call cut some URL short"
    )


class ExtractionResult(BaseModel):
    """The structured result of one `extract_products` call."""

    products: list[dict[str, Any]] = Field(
        description="product records with schema.org field names (name, brand, sku, gtin, mpn, price as a "
        "decimal string, currency as ISO 4217, availability as schema.org ItemAvailability, images, ...), "
        "each with source_url, and listing_url and position for products found on a listing page"
    )
    url_results: list[UrlResult] = Field(description="one entry per distinct input URL, in input order")
    duplicate_urls: list[str] = Field(default_factory=list, description="input URLs given more than once")
    stats: ExtractionStats
    status: Literal["complete", "cancelled"] = Field(
        default="complete", description="cancelled: the client cancelled the call; the products found so far"
    )
    job_id: str | None = Field(default=None, description="the call's job id")
    products_omitted: int = Field(
        default=0, description="products left out of this result to keep it small; read them from result_uri"
    )
    result_uri: str | None = Field(
        default=None,
        description="MCP resource with the whole result, readable in pages: <uri>?offset=0&limit=50",
    )


def product_record(product: Product, fields: list[str] | None) -> dict[str, Any]:
    """Return `product` as JSON-ready data, keeping only `fields` and the provenance fields when given."""
    # Empty values cost the agent's context and carry no information, so they are left out.
    record = {
        key: value
        for key, value in product.model_dump(mode="json", exclude_none=True).items()
        if value != [] and value != ""
    }
    if fields is None:
        return record
    keep = set(fields) | set(ALWAYS_RETURNED)
    return {key: value for key, value in record.items() if key in keep}

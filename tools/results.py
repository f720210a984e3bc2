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


def product_record(product: Product, fields: list[str] | None) -> dict[str, Any]:
    """Return `product` as JSON-ready data, keeping only `fields` and the provenance fields when given."""
    # Empty values cost the agent's context and say nothing, so they are left out.
    record = {
        key: value
        for key, value in product.model_dump(mode="json", exclude_none=True).items()
        if value != [] and value != ""
    }
    if fields is None:
        return record
    keep = set(fields) | set(ALWAYS_RETURNED)
    return {key: value for key, value in record.items() if key in keep}

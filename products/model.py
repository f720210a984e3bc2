"""The product record every layer passes around, named after schema.org's Product."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# schema.org ItemAvailability members, without the https://schema.org/ prefix.
Availability = Literal[
    "InStock",
    "OutOfStock",
    "PreOrder",
    "PreSale",
    "BackOrder",
    "Discontinued",
    "InStoreOnly",
    "OnlineOnly",
    "LimitedAvailability",
    "SoldOut",
    "Reserved",
    "MadeToOrder",
]

# The method that found a record, most trusted first.
ExtractionMethod = Literal[
    "json-ld",
    "microdata",
    "opengraph",
    "embedded-json",
    "heuristic",
    "brightdata-dataset",
]


class Variant(BaseModel):
    """One purchasable option of a product group (a size, a colour)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    sku: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    price: Decimal | None = None
    currency: str | None = Field(default=None, description="ISO 4217 code")
    availability: Availability | None = None
    url: str | None = None
    image: str | None = None
    color: str | None = None
    size: str | None = None


class Product(BaseModel):
    """A product as a shop page describes it, with schema.org field names."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    brand: str | None = None
    sku: str | None = None
    gtin: str | None = Field(default=None, description="GTIN-8, -12 (UPC), -13 (EAN) or -14, digits only")
    mpn: str | None = None
    price: Decimal | None = None
    currency: str | None = Field(default=None, description="ISO 4217 code, e.g. EUR")
    availability: Availability | None = None
    url: str | None = Field(default=None, description="canonical product URL as the page states it")
    images: list[str] = Field(default_factory=list, description="absolute image URLs, main image first")
    description: str | None = None
    rating: float | None = Field(default=None, description="aggregate rating value")
    best_rating: float | None = Field(default=None, description="top of the rating scale, 5 when unstated")
    review_count: int | None = None
    variants: list[Variant] = Field(default_factory=list)

    source_url: str = Field(description="the page this record was parsed from")
    extracted_by: ExtractionMethod
    listing_url: str | None = Field(default=None, description="the listing page that linked to source_url")
    position: int | None = Field(default=None, description="1-based position in that listing")
    from_cache: bool = Field(
        default=False, description="true when source_url's page came from the page cache"
    )
    cache_age_s: float | None = Field(
        default=None, description="age in seconds of that cached page when it was served"
    )


PRODUCT_FIELDS: tuple[str, ...] = tuple(Product.model_fields)

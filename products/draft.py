"""A product record while it is being assembled from several sources on one page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from decimal import Decimal

from product_extractor.products.model import Availability, ExtractionMethod, Product, Variant
from product_extractor.products.prices import normalize_amount
from product_extractor.products.text import is_placeholder_image, plain_text

__all__ = ["Draft"]

_SCALAR_FIELDS = (
    "name",
    "brand",
    "sku",
    "gtin",
    "mpn",
    "price",
    "currency",
    "availability",
    "url",
    "description",
    "rating",
    "best_rating",
    "review_count",
)


# Values shops put in a field to mean "none", and unrendered template variables.
_PLACEHOLDER = re.compile(
    r"^(?:does not apply|not applicable|n/?a|none|null|undefined|unknown|-+|0+)$|^\$\w+$|\{\{|\$\{",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Draft:
    """Product fields found so far by one extractor, which `method` names."""

    method: ExtractionMethod
    name: str | None = None
    brand: str | None = None
    sku: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    availability: Availability | None = None
    url: str | None = None
    images: list[str] = field(default_factory=list)
    description: str | None = None
    rating: float | None = None
    best_rating: float | None = None
    review_count: int | None = None
    variants: list[Variant] = field(default_factory=list)
    # Fields read from the rendered page text. They override structured data
    # on merge, because shops' markup lags behind what the page displays.
    visible_fields: set[str] = field(default_factory=set)
    # Amounts the page shows crossed out or labelled as the old price, read by
    # the heuristics. Not a product field: the merge uses them to drop a
    # structured-data price that is the list price of a discounted product.
    old_prices: set[Decimal] = field(default_factory=set)

    def filled(self) -> int:
        """Count the fields that hold a value: a rough measure of how much this source found."""
        count = sum(getattr(self, name) is not None for name in _SCALAR_FIELDS)
        return count + bool(self.images) + bool(self.variants)

    def is_product(self) -> bool:
        """Return whether this is enough to call a product: a name, or a price with an identifier."""
        return self.name is not None or (self.price is not None and (self.sku or self.gtin) is not None)

    def drop_placeholders(self) -> None:
        """Clear identifier and brand values meaning "none" ("Does Not Apply", "0000000000000", "$metabrand").

        An mpn equal to the sku is dropped too: shops copy their own item id
        into both, and a manufacturer's part number is a different thing.
        """
        for name in ("brand", "sku", "gtin", "mpn"):
            value = getattr(self, name)
            if value is not None and _PLACEHOLDER.search(value.strip()):
                setattr(self, name, None)
        if self.mpn is not None and self.mpn == self.sku:
            self.mpn = None

    def fill_from(self, other: Draft) -> None:
        """Copy every field `other` has and this draft lacks, then `other`'s visible fields over this draft's.

        Images are merged: `other`'s visible images go first, then the rest in order.
        """
        for name in _SCALAR_FIELDS:
            if getattr(self, name) is None and getattr(other, name) is not None:
                setattr(self, name, getattr(other, name))

        for name in other.visible_fields:
            if name == "images":
                self.images = other.images + [image for image in self.images if image not in other.images]
            else:
                setattr(self, name, getattr(other, name))

        for image in other.images:
            if image not in self.images:
                self.images.append(image)
        if not self.variants:
            self.variants = list(other.variants)

    def to_product(self, source_url: str) -> Product:
        """Build the shared `Product` model for the page at `source_url`.

        Every extractor's record passes here, so the output rules live here:
        prices written with their currency's minor-unit digits, a plain-text
        description, and no placeholder images.
        """
        values = {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name not in ("method", "visible_fields", "old_prices")
        }
        if values["rating"] is not None and values["best_rating"] is None:
            values["best_rating"] = 5.0

        if self.price is not None:
            values["price"] = normalize_amount(self.price, self.currency)
        values["description"] = plain_text(self.description)
        values["images"] = [image for image in self.images if not is_placeholder_image(image)]
        values["variants"] = [_clean_variant(variant) for variant in self.variants]
        return Product(**values, source_url=source_url, extracted_by=self.method)


def _clean_variant(variant: Variant) -> Variant:
    """Apply the record's output rules to a variant: its price's minor-unit digits, no placeholder image."""
    updates: dict[str, object] = {}
    if variant.price is not None:
        updates["price"] = normalize_amount(variant.price, variant.currency)
    if variant.image is not None and is_placeholder_image(variant.image):
        updates["image"] = None
    return variant.model_copy(update=updates) if updates else variant

"""Everything that turns HTML into products. Nothing here does I/O."""

from product_extractor.products.model import PRODUCT_FIELDS, Availability, ExtractionMethod, Product, Variant

__all__ = ["PRODUCT_FIELDS", "Availability", "ExtractionMethod", "Product", "Variant"]

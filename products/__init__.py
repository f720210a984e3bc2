"""Everything that turns HTML into products. Nothing here does I/O."""

from product_extractor.products.model import PRODUCT_FIELDS, Availability, ExtractionMethod, Product, Variant
from product_extractor.products.parse import PageKind, ParsedPage, parse_page

__all__ = [
    "PRODUCT_FIELDS",
    "Availability",
    "ExtractionMethod",
    "PageKind",
    "ParsedPage",
    "Product",
    "Variant",
    "parse_page",
]

"""The arguments of `extract_products`, validated and normalised before any request is made.

Field descriptions are the schema an agent reads, so they explain what to pass and why.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_URLS = 50
MAX_URL_LENGTH = 2048  # longer URLs are refused by many servers and proxies

# Fields an agent may pick; provenance fields (source_url, listing_url, position) always come back.
ALWAYS_RETURNED = ("source_url", "listing_url", "position")
ProductField = Literal[
    "name",
    "brand",
    "sku",
    "gtin",
    "mpn",
    "price",
    "currency",
    "availability",
    "url",
    "images",
    "description",
    "rating",
    "best_rating",
    "review_count",
    "variants",
    "extracted_by",
]
# NOTE: keep ProductField in sync with products.model.Product; a test checks that they match.


def normalise_url(value: str) -> str:
    """Return `value` as a canonical http(s) URL, or raise ValueError saying what is wrong with it.

    The scheme and host are lower-cased, default ports and the fragment dropped,
    and an empty path becomes "/", so two spellings of one page fetch once.
    """
    url = value.strip()
    if not url:
        raise ValueError("is empty; pass a full URL such as https://shop.example/product/1")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"is {len(url)} characters long; URLs longer than {MAX_URL_LENGTH} are not accepted")
    if any(character.isspace() for character in url):
        raise ValueError(
            f"{url!r} contains white space; percent-encode it or pass the URL as the shop shows it"
        )

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"{url!r} has {shown}; only http:// and https:// URLs can be fetched")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r} contains credentials; remove the user:password@ part")

    try:
        hostname = parts.hostname
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{url!r} has an invalid host or port: {error}") from None
    if not hostname:
        raise ValueError(f"{url!r} has no host name")

    host = _encode_host(hostname, url)
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"

    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def _encode_host(hostname: str, url: str) -> str:
    """Return the host in lower-case ASCII, internationalised names in their IDNA form."""
    host = hostname.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise ValueError(f"{url!r} has a host name that is not valid IDNA: {error}") from None


ShopUrl = Annotated[str, AfterValidator(normalise_url)]


class ExtractProductsArguments(BaseModel):
    """The arguments of `extract_products`."""

    model_config = ConfigDict(extra="forbid")

    urls: list[ShopUrl] = Field(
        min_length=1,
        max_length=MAX_URLS,
        description=(
            "Shop pages to extract products from: product pages and/or category, search or listing "
            f"pages, 1 to {MAX_URLS} absolute http(s) URLs. All are fetched at the same time, so pass every "
            "URL you need in one call rather than one call per URL. Duplicates are fetched once."
        ),
    )
    max_products_per_url: int = Field(
        default=30,
        ge=1,
        le=500,
        description=(
            "For a listing page, how many of its products (in listing order, following its pagination) "
            "to open and extract; ignored for product pages. Lower it to save time and context."
        ),
    )
    timeout_s: float = Field(
        default=120,
        gt=0,
        le=600,
        description=(
            "Deadline in seconds for each URL, including every product page of a listing. A URL that "
            "runs out of time returns the products found so far with status 'partial'."
        ),
    )
    fields: list[ProductField] | None = Field(
        default=None,
        description=(
            "Product fields to return, to keep the result small, e.g. ['name', 'price', 'currency']. "
            "Omit for all fields. source_url, listing_url and position are always returned."
        ),
    )


def split_duplicates(urls: list[str]) -> tuple[list[str], list[str]]:
    """Return `(unique URLs in first-seen order, URLs dropped as repeats)` of normalised URLs."""
    unique: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for url in urls:
        if url in seen:
            duplicates.append(url)
        else:
            seen.add(url)
            unique.append(url)
    return unique, duplicates

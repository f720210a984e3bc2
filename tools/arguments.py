"""The arguments of `extract_products`, validated and normalised before any request is made.

Field descriptions are the schema an agent reads, so they explain what to pass and why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

MAX_URLS = 50
MAX_URL_LENGTH = 2048  # longer URLs are refused by many servers and proxies

# Fields an agent may pick; provenance fields (source_url, listing_url, position, from_cache,
# cache_age_s) always come back.
ALWAYS_RETURNED = ("source_url", "listing_url", "position", "from_cache", "cache_age_s")
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
    "source_url",
    "listing_url",
    "position",
    "from_cache",
    "cache_age_s",
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


def _reject_bool(value: object) -> object:
    # pydantic reads true as 1 in lax mode, which hides an agent's mistake.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class ExtractProductsArguments(BaseModel):
    """The arguments of `extract_products`."""

    model_config = ConfigDict(extra="forbid")

    # The URLs as the caller spelled them, so repeats can be reported in the caller's words.
    _given_urls: list[str] = PrivateAttr(default_factory=list)

    urls: list[ShopUrl] = Field(
        min_length=1,
        max_length=MAX_URLS,
        description=(
            "Shop pages to extract products from: product pages and/or category, search or listing "
            f"pages, 1 to {MAX_URLS} absolute http(s) URLs. All are fetched at the same time, so pass every "
            "URL you need in one call rather than one call per URL. Duplicates are fetched once."
        ),
    )
    max_products_per_url: Annotated[int, BeforeValidator(_reject_bool)] = Field(
        default=30,
        ge=1,
        le=500,
        description=(
            "For a listing page, how many of its products (in listing order, following its pagination) "
            "to open and extract; ignored for product pages. Lower it to save time and context."
        ),
    )
    timeout_s: Annotated[float, BeforeValidator(_reject_bool)] = Field(
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
        min_length=1,
        description=(
            "Product fields to return, to keep the result small, e.g. ['name', 'price', 'currency']. "
            "Omit for all fields. source_url, listing_url, position, from_cache and cache_age_s are "
            "always returned."
        ),
    )

    backend: Literal["direct", "brightdata", "auto"] | None = Field(
        default=None,
        description=(
            "How to fetch: 'direct' (free, from this machine), 'brightdata' (Bright Data's Web Unlocker, "
            "and its Web Scraper API for sites it has a dataset for; billed), or 'auto' (direct, and "
            "Bright Data only for pages that come back blocked). Omit for the server's default: "
            "'brightdata' when a Bright Data token is configured, else 'direct'."
        ),
    )
    max_cost_usd: Annotated[float, BeforeValidator(_reject_bool)] | None = Field(
        default=None,
        ge=0,
        description=(
            "Spending cap in USD for this call's billed Bright Data requests; no billed request starts "
            "once it would pass the cap, and the URLs cut short are reported. Omit for no cap."
        ),
    )

    no_cache: bool = Field(
        default=False,
        description=(
            "true: fetch every page again instead of reading it from the server's page cache, for "
            "prices that may have changed in the last hour; the fresh pages replace the cached ones. "
            "Omit to reuse pages fetched recently (within one hour by default), which costs no "
            "request; each product's from_cache and cache_age_s say where its page came from."
        ),
    )

    @model_validator(mode="wrap")
    @classmethod
    def _remember_given_urls(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        given = data.get("urls") if isinstance(data, dict) else None
        if isinstance(given, list) and all(isinstance(url, str) for url in given):
            model._given_urls = [url.strip() for url in given]
        return model

    def unique_urls(self) -> tuple[list[str], list[str]]:
        """Return `(distinct URLs to fetch, repeated URLs as the caller gave them)`."""
        return split_duplicates(self.urls, self._given_urls)


def split_duplicates(urls: list[str], given: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Return `(unique normalised URLs in first-seen order, repeats as given)`.

    `given` contains the URLs as the caller spelled them, index for index with
    `urls`. Without it the repeats are reported normalised.
    """
    spellings = given if given is not None and len(given) == len(urls) else urls
    unique: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for url, spelling in zip(urls, spellings, strict=True):
        if url in seen:
            duplicates.append(spelling)
        else:
            seen.add(url)
            unique.append(url)
    return unique, duplicates

"""The arguments of `extract_products`, validated and normalised before any request is made.

Field descriptions are the schema an agent reads, so they explain what to pass and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

MAX_URLS = 50  # URLs per call unless the server's settings set another number
MAX_URLS_CEILING = 1000  # maximum of PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL
MAX_URL_LENGTH = 2048  # longer URLs are refused by many servers and proxies
MAX_PRODUCTS_PER_URL = 500
# Products per call unless the server's settings set another number: enough for MAX_URLS listings
# at the default max_products_per_url (30) to finish whole.
MAX_PRODUCTS_PER_CALL = 1500
MAX_TIMEOUT_S = 600.0
DEFAULT_TIMEOUT_S = 120.0

# Provenance fields that `fields` never removes. A record still lacks listing_url and position
# for a product page given directly, and cache_age_s when from_cache is false.
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

# The user-info of a URL ("user:password@" before the host). The first branch reads a whole value
# as one URL, with or without a scheme, up to the end of its authority. The second finds URLs
# with a scheme inside longer text, such as JSON, so it also stops at white space and quotes.
# Its look-behind starts a scheme only at the start of a word, which keeps the search linear.
_USER_INFO = re.compile(
    r"^(?P<start>(?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#]*@"
    r"|(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s\"'<>\\]*@"
)
REDACTED_USER_INFO = "***@"


def redact_user_info(text: str) -> str:
    """Replace the user-info of each URL in `text` with `***@`, as in `http://***@host/p`.

    Error messages, logs and traces show URLs through this, so that a password a caller
    put in a URL is not repeated. A value that starts with `user:password@host` and no
    scheme counts as a URL too.
    """
    return _USER_INFO.sub(lambda match: (match["start"] or match["scheme"] or "") + REDACTED_USER_INFO, text)


def normalise_url(value: str) -> str:
    """Return `value` as a canonical http(s) URL, or raise ValueError saying what is wrong with it.

    The scheme and host are lower-cased, default ports and the fragment dropped,
    and an empty path becomes "/", so two spellings of one page fetch once.
    Error messages quote the URL with its user-info redacted.
    """
    url = value.strip()
    if not url:
        raise ValueError("is empty; pass a full URL such as https://shop.example/product/1")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"is {len(url)} characters long; URLs longer than {MAX_URL_LENGTH} are not accepted")
    quoted_url = repr(redact_user_info(url))
    if any(character.isspace() for character in url):
        raise ValueError(
            f"{quoted_url} contains white space; percent-encode it or pass the URL as the shop shows it"
        )

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(f"{quoted_url} has {shown}; only http:// and https:// URLs can be fetched")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{quoted_url} contains credentials; remove the user:password@ part")

    try:
        hostname = parts.hostname
        port = parts.port
    except ValueError as error:
        raise ValueError(f"{quoted_url} has an invalid host or port: {error}") from None
    if not hostname:
        raise ValueError(f"{quoted_url} has no host name")

    host = _encode_host(hostname, quoted_url)
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"

    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def _encode_host(hostname: str, quoted_url: str) -> str:
    """Return the host in lower-case ASCII, internationalised names in their IDNA form."""
    host = hostname.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise ValueError(f"{quoted_url} has a host name that is not valid IDNA: {error}") from None


ShopUrl = Annotated[str, AfterValidator(normalise_url)]


@dataclass(frozen=True, slots=True)
class CallLimits:
    """The server's bounds on one call, from its settings; arguments past them are rejected.

    Pass them as `ExtractProductsArguments.model_validate(data, context={"limits": limits})`.
    Without a context the defaults apply.
    """

    max_urls: int = MAX_URLS  # PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL
    max_products: int = MAX_PRODUCTS_PER_CALL  # PRODUCT_EXTRACTOR_MAX_PRODUCTS_PER_CALL
    job_timeout_s: float = MAX_TIMEOUT_S  # PRODUCT_EXTRACTOR_JOB_TIMEOUT_S


def _limits_of(info: ValidationInfo) -> CallLimits:
    context = info.context if isinstance(info.context, dict) else {}
    limits = context.get("limits")
    return limits if isinstance(limits, CallLimits) else CallLimits()


def _urls_description(max_urls: int) -> str:
    return (
        "Shop pages to extract products from: product pages and/or category, search or listing "
        f"pages, 1 to {max_urls} absolute http(s) URLs. All are fetched at the same time, so pass every "
        "URL you need in one call rather than one call per URL. Duplicates are fetched once."
    )


def _timeout_description(job_timeout_s: float) -> str:
    return (
        "Deadline in seconds for each URL, including every product page of a listing. A URL that "
        "runs out of time returns the products found so far with status 'partial'. The server ends "
        f"the whole call after {job_timeout_s:g} s at the latest."
    )


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
        max_length=MAX_URLS_CEILING,
        description=_urls_description(MAX_URLS),
    )
    max_products_per_url: Annotated[int, BeforeValidator(_reject_bool)] = Field(
        default=30,
        ge=1,
        le=MAX_PRODUCTS_PER_URL,
        description=(
            "For a listing page, how many of its products (in listing order, following its pagination) "
            "to open and extract; ignored for product pages. Lower it to save time and context."
        ),
    )
    timeout_s: Annotated[float, BeforeValidator(_reject_bool)] = Field(
        default=DEFAULT_TIMEOUT_S,
        gt=0,
        le=MAX_TIMEOUT_S,
        description=_timeout_description(MAX_TIMEOUT_S),
    )
    fields: list[ProductField] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Product fields to return, to keep the result small, e.g. ['name', 'price', 'currency']. "
            "Omit for all fields. The provenance fields are kept whatever this lists: source_url and "
            "from_cache in every record, listing_url and position for products found on a listing, and "
            "cache_age_s when from_cache is true."
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
    # The bound sits on the number inside the union: a bound on the whole field comes out in the
    # JSON schema as pydantic's "ge", which is no JSON Schema keyword, in place of "minimum".
    max_cost_usd: Annotated[float, Field(ge=0), BeforeValidator(_reject_bool)] | None = Field(
        default=None,
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

    @field_validator("urls", mode="before")
    @classmethod
    def _within_url_limit(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked before each URL is normalised, so an oversized list fails at once.
        limits = _limits_of(info)
        if isinstance(value, list) and len(value) > limits.max_urls:
            raise ValueError(
                f"contains {len(value)} URLs, more than this server's limit of {limits.max_urls} per call "
                "(PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL); split them over several calls"
            )
        return value

    @field_validator("max_products_per_url")
    @classmethod
    def _within_product_limit(cls, value: int, info: ValidationInfo) -> int:
        limits = _limits_of(info)
        if value > limits.max_products:
            raise ValueError(
                f"is more than this server's limit of {limits.max_products} products per call "
                f"(PRODUCT_EXTRACTOR_MAX_PRODUCTS_PER_CALL); pass at most {limits.max_products}"
            )
        return value

    @field_validator("timeout_s")
    @classmethod
    def _within_job_deadline(cls, value: float, info: ValidationInfo) -> float:
        # Runs only for a timeout_s the caller gives: a default longer than the call's deadline
        # just ends with the call.
        limits = _limits_of(info)
        if value > limits.job_timeout_s:
            raise ValueError(
                f"is longer than this server's deadline for a whole call, {limits.job_timeout_s:g} s "
                f"(PRODUCT_EXTRACTOR_JOB_TIMEOUT_S); pass at most {limits.job_timeout_s:g}"
            )
        return value

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


def arguments_schema(limits: CallLimits) -> dict[str, Any]:
    """Return the JSON schema an agent reads for `extract_products`, with this server's bounds in it."""
    schema = ExtractProductsArguments.model_json_schema()
    properties = schema["properties"]
    properties["urls"]["maxItems"] = limits.max_urls
    properties["urls"]["description"] = _urls_description(limits.max_urls)
    properties["max_products_per_url"]["maximum"] = min(MAX_PRODUCTS_PER_URL, limits.max_products)

    timeout = properties["timeout_s"]
    timeout["maximum"] = min(MAX_TIMEOUT_S, limits.job_timeout_s)
    timeout["default"] = min(DEFAULT_TIMEOUT_S, limits.job_timeout_s)
    timeout["description"] = _timeout_description(limits.job_timeout_s)
    return schema


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

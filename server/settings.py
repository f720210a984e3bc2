"""Server settings from the environment (prefix PRODUCT_EXTRACTOR_)."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from product_extractor.tools.arguments import (
    MAX_PRODUCTS_PER_CALL,
    MAX_TIMEOUT_S,
    MAX_URLS,
    MAX_URLS_CEILING,
    CallLimits,
)
from product_extractor.tools.extract import FanOutOptions
from product_extractor.web.direct import FetchLimits
from product_extractor.web.limits import RateLimit
from product_extractor.web.page_cache import PageCacheConfig, default_cache_dir
from product_extractor.web.retry import RetryPolicy
from product_extractor.web.robots import RobotsOptions
from product_extractor.web.url_safety import AllowList, UrlPolicy

logger = logging.getLogger(__name__)

# Maximum parse worker processes started by default: one per core, up to this many. Each worker
# runs its own interpreter and parser, 36 MiB resident once started (Linux, Python 3.11).
MAX_DEFAULT_PARSE_PROCESSES = 4


def default_parse_processes() -> int:
    """Return the default count of parse worker processes: one per core, up to MAX_DEFAULT_PARSE_PROCESSES."""
    return min(os.cpu_count() or 1, MAX_DEFAULT_PARSE_PROCESSES)


ENV_PREFIX = "PRODUCT_EXTRACTOR_"
# Variables with the prefix that are read elsewhere, not by Settings: the saved-pages folder of
# `product-extractor demo` and of the tests.
OTHER_VARIABLES = frozenset({"PRODUCT_EXTRACTOR_CORPUS"})
BACKENDS_NEEDING_TOKEN = ("brightdata", "auto")


class Settings(BaseSettings):
    """Every knob of the server; each field is read from PRODUCT_EXTRACTOR_<FIELD NAME>."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    listing_concurrency: int = Field(
        default=10, ge=1, le=100, description="product pages in flight per listing URL with many products"
    )
    small_listing_concurrency: int = Field(
        default=5, ge=1, le=100, description="product pages in flight per listing URL with few products"
    )
    small_listing_max: int = Field(
        default=10, ge=0, description="a listing with at most this many products counts as small"
    )
    max_listing_pages: int = Field(default=5, ge=1, le=50, description="pagination pages followed per URL")
    parse_processes: int = Field(
        default_factory=default_parse_processes,
        ge=0,
        le=64,
        description="worker processes that parse pages, by default one per core up to 4; 0 parses in threads",
    )
    request_timeout_s: float = Field(default=30.0, gt=0, description="timeout of each HTTP request, seconds")
    max_page_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="page size cap, bytes")
    max_redirects: int = Field(default=5, ge=0, le=20)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    backend: Literal["direct", "brightdata", "auto"] | None = Field(
        default=None, description="default backend; unset means brightdata with a token, else direct"
    )
    # Bright Data's own variable name, as its SDK and MCP server read it.
    brightdata_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("BRIGHTDATA_API_TOKEN", "PRODUCT_EXTRACTOR_BRIGHTDATA_API_TOKEN"),
    )
    brightdata_zone: str = Field(default="mcp_unlocker", min_length=1, description="Web Unlocker zone name")
    brightdata_api_url: str = Field(
        default="https://api.brightdata.com", description="Bright Data API base URL (tests use the sandbox)"
    )
    brightdata_country: str | None = Field(default=None, description="two-letter country the unlocker uses")
    brightdata_request_timeout_s: float = Field(
        default=90.0, gt=0, description="timeout of each Web Unlocker request, seconds"
    )
    batch_size: int = Field(default=10, ge=1, le=500, description="products per streamed batch")
    batch_interval_ms: int = Field(
        default=500, ge=10, description="milliseconds after which waiting products are sent anyway"
    )
    result_budget_bytes: int = Field(
        default=100_000,
        ge=1_000,
        description="JSON bytes of products a result carries; the rest via a resource",
    )
    job_ttl_s: float = Field(default=3600.0, gt=0, description="seconds a finished job stays readable")
    max_jobs: int = Field(
        default=200, ge=1, le=100_000, description="finished jobs kept readable at once; the oldest go first"
    )
    trace_dir: Path | None = Field(
        default=None, description="folder for execution traces, one JSON line per tool call; unset is off"
    )
    brightdata_usd_per_1000_requests: float = Field(default=1.50, ge=0)
    brightdata_usd_per_1000_records: float = Field(default=1.00, ge=0)

    # URL safety and robots.txt for direct fetching
    allow_hosts: str = Field(
        default="",
        description=(
            "comma-separated host names, IP addresses and CIDR ranges that direct fetching may reach "
            "although they are not public, on any port"
        ),
    )
    respect_robots_txt: bool = Field(
        default=True, description="honour robots.txt in direct fetching, auto's direct attempts included"
    )
    robots_txt_ttl_s: float = Field(
        default=3600.0, gt=0, le=86400, description="seconds a fetched robots.txt is used, at most a day"
    )
    robots_txt_user_agent: str = Field(
        default="product-extractor",
        pattern=r"^[A-Za-z_-]+$",
        description="product token matched against robots.txt User-agent lines",
    )

    # Page cache
    cache_dir: Path | None = Field(
        default=None,
        description="folder of the page cache; unset is the user's cache folder, "
        "e.g. ~/.cache/product-extractor/pages on Linux",
    )
    cache_ttl_s: float = Field(
        default=3600.0, gt=0, description="seconds a fetched page is served from the page cache"
    )
    # 512 MB has room for about 4,700 pages at the mean compressed size of the saved real pages
    # (110 KB; 534 KB before compression): about a hundred 50-page calls inside one TTL.
    cache_size_limit_mb: int = Field(
        default=512, ge=1, description="page cache size in MB; the least recently stored pages go first"
    )
    no_cache: bool = Field(default=False, description="true turns the page cache off: no lookups, no stores")

    # Retries and rate limits (docs/retries-and-limits.md)
    retry_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="attempts per request in all, the first included; 1 turns retries off",
    )
    retry_wait_initial_s: float = Field(
        default=0.5, ge=0, le=60, description="seconds before the first retry; each later wait doubles"
    )
    retry_wait_max_s: float = Field(
        default=10.0, ge=0, le=600, description="maximum wait between two attempts, seconds"
    )
    retry_wait_jitter_s: float = Field(
        default=0.5, ge=0, le=60, description="up to this many random seconds added to each wait"
    )
    retry_after_max_s: float = Field(
        default=60.0, ge=0, le=3600, description="longest Retry-After honoured; a longer one ends the retries"
    )
    # Each request in flight may buffer up to max_page_bytes, so 64 of them bound the
    # page bodies held at once to 640 MB at the default 10 MB cap.
    max_in_flight: int = Field(
        default=64, ge=1, le=10_000, description="HTTP requests in flight at once across the server process"
    )
    # A 20-URL job on one shop sends at most this many requests to it at once; browsers
    # open about 6 connections per host.
    max_per_host: int = Field(
        default=4, ge=1, le=1_000, description="direct requests in flight at once per scheme, host and port"
    )
    # The one request rate Bright Data documents for POST /request is the SERP API's
    # 1,000 requests per minute for accounts that have not been funded. The Web Unlocker
    # shares that endpoint and has no documented rate, so the default is that rate.
    brightdata_rate_limit: str = Field(
        default="1000/1m",
        description="Bright Data API requests per period, as <requests>/<period><unit> with unit s, m or h",
    )

    # Bounded resources: the size of a call, its deadline, and slow or complex pages.
    max_urls_per_call: int = Field(
        default=MAX_URLS, ge=1, le=MAX_URLS_CEILING, description="URLs one extract_products call may pass"
    )
    max_products_per_call: int = Field(
        default=MAX_PRODUCTS_PER_CALL,
        ge=1,
        le=100_000,
        description="products one call extracts over all its URLs; listings past it are cut short",
    )
    job_timeout_s: float = Field(
        default=MAX_TIMEOUT_S,
        gt=0,
        le=MAX_TIMEOUT_S,
        description="seconds after which a whole call ends, each URL returning what it found",
    )
    body_timeout_s: float = Field(
        default=60.0, gt=0, description="seconds a response body may take to arrive, headers to last byte"
    )
    parse_timeout_s: float = Field(
        default=30.0, gt=0, description="seconds parsing one page may take before that page fails"
    )

    def default_backend(self) -> str:
        """Return the backend a call without a `backend` argument uses."""
        if self.backend is not None:
            return self.backend
        return "brightdata" if self.brightdata_api_token is not None else "direct"

    @field_validator("brightdata_api_token", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        # MCP host configs often carry an empty placeholder; it means "no token", not an error.
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("brightdata_rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        RateLimit.parse(value)
        return value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def fan_out_options(self) -> FanOutOptions:
        return FanOutOptions(
            listing_concurrency=self.listing_concurrency,
            small_listing_concurrency=self.small_listing_concurrency,
            small_listing_max=self.small_listing_max,
            max_listing_pages=self.max_listing_pages,
            parse_processes=self.parse_processes,
            parse_timeout_s=self.parse_timeout_s,
            job_timeout_s=self.job_timeout_s,
            max_products=self.max_products_per_call,
        )

    def page_cache_config(self) -> PageCacheConfig | None:
        """Return where and how the page cache keeps pages, or None when `no_cache` turns it off."""
        if self.no_cache:
            return None
        return PageCacheConfig(
            directory=self.cache_dir or default_cache_dir(),
            ttl_s=self.cache_ttl_s,
            size_limit_bytes=self.cache_size_limit_mb * 1024 * 1024,
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            wait_initial_s=self.retry_wait_initial_s,
            wait_max_s=self.retry_wait_max_s,
            wait_jitter_s=self.retry_wait_jitter_s,
            max_retry_after_s=self.retry_after_max_s,
        )

    def brightdata_rate(self) -> RateLimit:
        return RateLimit.parse(self.brightdata_rate_limit)

    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(
            request_timeout_s=self.request_timeout_s,
            max_bytes=self.max_page_bytes,
            max_redirects=self.max_redirects,
            body_timeout_s=self.body_timeout_s,
        )

    def call_limits(self) -> CallLimits:
        return CallLimits(
            max_urls=self.max_urls_per_call,
            max_products=self.max_products_per_call,
            job_timeout_s=self.job_timeout_s,
        )

    @field_validator("allow_hosts")
    @classmethod
    def _valid_allow_list(cls, value: str) -> str:
        AllowList.parse(value)  # raises ValueError naming the invalid entry
        return value

    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(AllowList.parse(self.allow_hosts))

    def robots_options(self) -> RobotsOptions:
        return RobotsOptions(
            enabled=self.respect_robots_txt,
            product_token=self.robots_txt_user_agent,
            ttl_s=self.robots_txt_ttl_s,
        )


class SettingsError(Exception):
    """An environment variable contains an invalid setting; `str()` names each variable and the reason."""


def load_settings() -> Settings:
    """Read the settings from the environment, or raise `SettingsError` naming each invalid variable.

    Logs a warning for each `PRODUCT_EXTRACTOR_*` variable that is not a setting, such as a
    misspelled name, and ignores it. Raises when the default backend needs a Bright Data
    token that is not set, because every call would fail.
    """
    warn_unknown_variables(os.environ)
    try:
        settings = Settings()
    except ValidationError as error:
        lines = ["invalid settings in the environment:"]
        for problem in error.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper()
            # Only the token is read from Bright Data's own variable name; fields such as
            # brightdata_zone are PRODUCT_EXTRACTOR_BRIGHTDATA_ZONE.
            if name != "BRIGHTDATA_API_TOKEN" and not name.startswith(ENV_PREFIX):
                name = ENV_PREFIX + name
            # The value of a secret is never echoed.
            shown = "(hidden)" if "TOKEN" in name else repr(problem.get("input"))
            lines.append(f"- {name}: {problem['msg']} (got {shown})")
        raise SettingsError("\n".join(lines)) from None

    if settings.backend in BACKENDS_NEEDING_TOKEN and settings.brightdata_api_token is None:
        raise SettingsError(
            "invalid settings in the environment:\n"
            f"- {ENV_PREFIX}BACKEND: {settings.backend!r} needs a Bright Data API token, but "
            "BRIGHTDATA_API_TOKEN is not set or is empty, so every call would fail. Set "
            f"BRIGHTDATA_API_TOKEN to your Bright Data API token, or set {ENV_PREFIX}BACKEND to 'direct' "
            "(or unset it) to fetch directly."
        )
    return settings


def setting_variables() -> frozenset[str]:
    """Return the upper-case names of the environment variables that `Settings` reads."""
    names = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for field in Settings.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
    return frozenset(names)


def warn_unknown_variables(environment: Mapping[str, str]) -> None:
    """Log one warning per `PRODUCT_EXTRACTOR_*` variable in `environment` that no setting reads.

    Names are compared in upper case, as `Settings` reads them. Each warning names the
    closest setting when one is similar. The values are never logged, because a
    misspelled token variable would hold a secret.
    """
    known = setting_variables() | OTHER_VARIABLES
    suffixes = {name.removeprefix(ENV_PREFIX): name for name in known if name.startswith(ENV_PREFIX)}
    unknown = sorted(
        name for name in environment if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    )
    for name in unknown:
        # Compared without the shared prefix, which would make every name look close.
        close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), list(suffixes), n=1)
        if close:
            logger.warning("%s is not a setting and is ignored; did you mean %s?", name, suffixes[close[0]])
        else:
            logger.warning("%s is not a setting and is ignored; README.md lists the settings", name)

"""Typed Bright Data failures, and the mapping from an API response to one of them.

Every error is a `FetchError`, so the fan-out reports it on its URL like any
other fetch failure. `retryable` is True when the same call may succeed later
(rate limits, unlock failures, server errors), `status` is the HTTP status of
the Bright Data API response itself, and `error_code` is Bright Data's own code
(`client_10100`, `sr_rate_limit`, `reject_block`) where the response gives one.

No message contains the API token. Text copied from a response passes through
`redact()` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from product_extractor.web.fetcher import BudgetExceeded, ConnectFailed, FetchError, FetchTimeout
from product_extractor.web.retry_after import parse_retry_after

__all__ = [
    "AccessDenied",
    "ApiTimeout",
    "ApiUnreachable",
    "BrightDataError",
    "CostCapReached",
    "DatasetNotFound",
    "InvalidRequest",
    "PolicyBlocked",
    "ProxyAuthFailed",
    "RateLimited",
    "RecordError",
    "ServerError",
    "SnapshotEmpty",
    "SnapshotExpired",
    "SnapshotFailed",
    "SnapshotNotFound",
    "SnapshotPending",
    "TokenRejected",
    "UnexpectedResponse",
    "UnlockFailed",
    "UsageLimitReached",
    "ZoneNotFound",
    "error_from_response",
    "parse_retry_after",
    "redact",
    "summarize_body",
]

ZONE_VARIABLE = "PRODUCT_EXTRACTOR_BRIGHTDATA_ZONE"
TOKEN_VARIABLE = "BRIGHTDATA_API_TOKEN"

# Longest piece of a response body quoted in a message, in characters: enough for
# Bright Data's one-line reasons, short enough to keep an agent's context lean.
_DETAIL_CHARS = 200
_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
_ZONE_NOT_FOUND = re.compile(r"""zone\s+["']?([^"'\s]+)["']?\s+not\s+found""", re.IGNORECASE)

# 502 codes that describe the target itself: its host name does not resolve or its
# certificate is invalid, so the same request fails the same way later.
_PERMANENT_UNLOCK_CODES = ("resolve_failed", "net_err_cert", "ub_bad_endpoint")


class BrightDataError(FetchError):
    """A Bright Data API call failed."""

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        retryable: bool = False,
        snapshot_id: str | None = None,
        requests: int = 1,
        billed_requests: int = 0,
        retries: int = 0,
    ) -> None:
        super().__init__(url, message, requests=requests, billed_requests=billed_requests, retries=retries)
        self.status = status  # of the Bright Data API response, not of the target page
        self.error_code = error_code
        self.retryable = retryable
        self.snapshot_id = snapshot_id  # the dataset snapshot the failure belongs to, if any

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self.url!r}, status={self.status!r}, "
            f"error_code={self.error_code!r}, retryable={self.retryable!r})"
        )


class TokenRejected(BrightDataError):
    """401: the API token is missing, invalid or revoked."""


class InvalidRequest(BrightDataError):
    """400: Bright Data rejected the request's parameters (URL, dataset, zone feature)."""


class ZoneNotFound(InvalidRequest):
    """400: the account has no zone of the configured name."""


class AccessDenied(BrightDataError):
    """403: the account or zone may not make this request."""


class UsageLimitReached(AccessDenied):
    """403 `client_10100`: the zone or the account has used up its limit."""


class PolicyBlocked(AccessDenied):
    """403 `policy_*`: Bright Data's usage policy does not allow this target."""


class ProxyAuthFailed(BrightDataError):
    """407: Bright Data's proxy layer rejected the zone's credentials."""


class RateLimited(BrightDataError):
    """429: too many requests or running jobs; `retry_after_s` is set when the response has Retry-After."""


class UnlockFailed(BrightDataError):
    """502: the Web Unlocker reached the target but could not get the page."""


class ServerError(BrightDataError):
    """A 5xx from the Bright Data API other than an unlock failure."""


class ApiTimeout(BrightDataError, FetchTimeout):
    """The Bright Data API did not respond within the request timeout."""


class ApiUnreachable(BrightDataError, ConnectFailed):
    """No connection could be made to the Bright Data API."""


class UnexpectedResponse(BrightDataError):
    """A response whose shape the client does not know, such as JSON where a list was expected."""


class DatasetNotFound(InvalidRequest):
    """404 `dataset does not exist` from the Web Scraper API."""


class SnapshotFailed(BrightDataError):
    """The snapshot's job ended with status `failed`."""


class SnapshotEmpty(BrightDataError):
    """400 `Snapshot is empty`: the job finished without a record."""


class SnapshotExpired(BrightDataError):
    """400 `Snapshot is expired`: the snapshot is past Bright Data's retention period."""


class SnapshotNotFound(BrightDataError):
    """404: Bright Data has no snapshot of this id."""


class SnapshotPending(BrightDataError):
    """The snapshot was still running at the caller's deadline; its records can be downloaded later."""


class RecordError(BrightDataError):
    """A dataset returned an error record (`error`, `error_code`) for this URL in place of a product."""


class CostCapReached(BudgetExceeded):
    """The next billed call would pass `max_cost_usd`, so it was not sent."""


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of `secret` in `text`, so that an echoed token stays out of errors."""
    if not secret:
        return text
    return text.replace(secret, "[redacted]")


def summarize_body(body: str) -> str:
    """Return the first words of an error body as one line, tags removed (401 and 403 bodies can be HTML)."""
    text = _WHITESPACE.sub(" ", _TAG.sub(" ", body)).strip()
    if len(text) > _DETAIL_CHARS:
        return text[: _DETAIL_CHARS - 1] + "…"
    return text


def error_from_response(
    url: str,
    *,
    status: int,
    headers: Mapping[str, str],
    body: str,
    zone: str | None = None,
    requests: int = 1,
) -> BrightDataError:
    """Build the error for a Bright Data API response with a non-success `status`.

    `headers` must have lower-case names and `body` must already be redacted. `url`
    is the target the call was for. `zone` is the Web Unlocker zone, or None for the
    Web Scraper API.
    """
    response = _ErrorResponse(
        url=url,
        status=status,
        code=_error_code(headers),
        reason=_error_reason(headers, body),
        zone=zone,
        requests=requests,
    )

    if status == 401:
        return response.build(
            TokenRejected,
            f"{url} could not be fetched: {TOKEN_VARIABLE} was rejected ({response.detail()}); "
            "check the token",
        )
    if status == 400:
        return _bad_request(response)
    if status == 403:
        return _access_denied(response)
    if status == 404 and "dataset" in response.reason.lower():
        return response.build(
            DatasetNotFound,
            f"Bright Data has no dataset for {url} ({response.detail()}); check the dataset id",
        )
    if status == 407:
        return response.build(
            ProxyAuthFailed,
            f"Bright Data's proxy rejected the credentials for {url} ({response.detail()}); check "
            f"{TOKEN_VARIABLE} and that {response.zone_phrase()} is active",
        )
    if status == 429:
        return _rate_limited(response, headers.get("retry-after"))
    if status == 502:
        return _unlock_failed(response)
    if status >= 500:
        return response.build(
            ServerError,
            f"Bright Data failed on the request for {url} ({response.detail()}); retry later",
            retryable=True,
        )
    return response.build(
        UnexpectedResponse,
        f"Bright Data answered the request for {url} with an unexpected status ({response.detail()}); "
        "retry later",
    )


_E = TypeVar("_E", bound=BrightDataError)


@dataclass(frozen=True, slots=True)
class _ErrorResponse:
    """The parts of an error response that the messages quote."""

    url: str
    status: int
    code: str | None
    reason: str
    zone: str | None
    requests: int

    def build(self, kind: type[_E], message: str, *, retryable: bool = False) -> _E:
        return kind(
            self.url,
            message,
            status=self.status,
            error_code=self.code,
            retryable=retryable,
            requests=self.requests,
        )

    def detail(self, *, code: str | None = None) -> str:
        """Format `403 client_10090: reason`, leaving out the parts the response lacks."""
        code = code or self.code
        explanation = ": ".join(part for part in (code, self.reason) if part)
        return f"{self.status} {explanation}".strip()

    def zone_phrase(self) -> str:
        return f'Bright Data zone "{self.zone}"' if self.zone else "the Bright Data account"


def _bad_request(response: _ErrorResponse) -> BrightDataError:
    zone_match = _ZONE_NOT_FOUND.search(response.reason)
    if zone_match is not None:
        name = zone_match.group(1)
        return response.build(
            ZoneNotFound,
            f'{response.url} could not be fetched: zone "{name}" not found (400); create a Web Unlocker '
            f"zone named {name} or set {ZONE_VARIABLE}",
        )
    return response.build(
        InvalidRequest,
        f"Bright Data rejected the request for {response.url} ({response.detail()}); check that the URL is "
        "an absolute http(s) URL and that the zone or dataset supports it",
    )


def _access_denied(response: _ErrorResponse) -> BrightDataError:
    url = response.url

    # A zone over its limit can respond with an HTML page and no code header, so the
    # body's wording counts too.
    if response.code == "client_10100" or "usage limit" in response.reason.lower():
        return response.build(
            UsageLimitReached,
            f"{url} could not be fetched: {response.zone_phrase()} has reached its usage limit "
            f"({response.detail(code='client_10100')}); add funds or raise the limit in the Bright Data "
            "control panel, or use the direct backend",
        )

    if response.code == "client_10090":
        return response.build(
            AccessDenied,
            f"{url} could not be fetched: {response.zone_phrase()} is not a Web Unlocker zone "
            f"({response.detail()}); set {ZONE_VARIABLE} to a Web Unlocker zone",
        )

    if response.code is not None and response.code.startswith("policy_"):
        return response.build(
            PolicyBlocked,
            f"Bright Data's usage policy blocks {url} ({response.detail()}); fetch it with the direct "
            "backend or ask Bright Data to review the domain",
        )

    return response.build(
        AccessDenied,
        f"Bright Data refused the request for {url} ({response.detail()}); check the permissions of "
        f"{response.zone_phrase()} in the Bright Data control panel",
    )


def _rate_limited(response: _ErrorResponse, retry_after: str | None) -> RateLimited:
    retry_after_s = parse_retry_after(retry_after)
    wait = f"retry after {retry_after_s:g} s" if retry_after_s is not None else "retry later"
    error = response.build(
        RateLimited,
        f"Bright Data rate-limited the request for {response.url} ({response.detail()}); {wait}",
        retryable=True,
    )
    error.retry_after_s = retry_after_s
    return error


def _unlock_failed(response: _ErrorResponse) -> BrightDataError:
    code = response.code or ""
    if code.startswith(_PERMANENT_UNLOCK_CODES):
        return response.build(
            UnlockFailed,
            f"Bright Data could not reach {response.url} ({response.detail()}); check the URL's host name",
        )
    return response.build(
        UnlockFailed,
        f"Bright Data could not unlock {response.url} ({response.detail()}); retry later",
        retryable=True,
    )


def _error_reason(headers: Mapping[str, str], body: str) -> str:
    """Return Bright Data's one-line reason: the error header, else the body, tags removed."""
    for name in ("x-brd-error", "x-luminati-error", "x-brd-err-msg"):
        value = headers.get(name, "").strip()
        if value:
            return summarize_body(value)
    return summarize_body(body)


def _error_code(headers: Mapping[str, str]) -> str | None:
    # `x-brd-error-code` is set by the unlocker, `x-brd-err-code` by the proxy layer
    # underneath, and `x-luminati-error-code` by older Bright Data endpoints.
    for name in ("x-brd-error-code", "x-brd-err-code", "x-luminati-error-code"):
        value = headers.get(name, "").strip()
        if value:
            return value
    return None

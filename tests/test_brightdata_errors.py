"""Bright Data API responses to typed errors: one row per documented status and code."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from product_extractor.brightdata.errors import (
    AccessDenied,
    BrightDataError,
    DatasetNotFound,
    InvalidRequest,
    PolicyBlocked,
    ProxyAuthFailed,
    RateLimited,
    ServerError,
    TokenRejected,
    UnexpectedResponse,
    UnlockFailed,
    UsageLimitReached,
    ZoneNotFound,
    error_from_response,
    parse_retry_after,
    redact,
)
from product_extractor.web.fetcher import FetchError

URL = "https://shop.example/p/1"


@dataclass(frozen=True)
class Case:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    zone: str | None = "mcp_unlocker"


CASES = [
    pytest.param(
        Case(401, body="Invalid credentials"),
        TokenRejected,
        False,
        None,
        "BRIGHTDATA_API_TOKEN was rejected (401 Invalid credentials); check the token",
        id="401-invalid",
    ),
    pytest.param(
        Case(401, body="User authentication is required"),
        TokenRejected,
        False,
        None,
        "was rejected (401 User authentication is required)",
        id="401-missing",
    ),
    pytest.param(
        Case(400, {"x-brd-error": 'zone "shop_zone" not found'}, 'zone "shop_zone" not found'),
        ZoneNotFound,
        False,
        None,
        'zone "shop_zone" not found (400); create a Web Unlocker zone named shop_zone or set '
        "PRODUCT_EXTRACTOR_BRIGHTDATA_ZONE",
        id="400-zone",
    ),
    pytest.param(
        Case(400, {"x-brd-error": "url must be an absolute URL starting with http:// or https://"}),
        InvalidRequest,
        False,
        None,
        "(400 url must be an absolute URL",
        id="400-url",
    ),
    pytest.param(
        Case(
            403,
            {"x-brd-err-code": "client_10100"},
            "<h1>Webpage not available</h1><p>Zone has reached usage limit</p>",
        ),
        UsageLimitReached,
        False,
        "client_10100",
        'Bright Data zone "mcp_unlocker" has reached its usage limit (403 client_10100',
        id="403-client_10100",
    ),
    pytest.param(
        Case(403, body="<h1>Webpage not available</h1><p>Zone has reached usage limit</p>"),
        UsageLimitReached,
        False,
        None,
        "has reached its usage limit",
        id="403-usage-limit-html-only",
    ),
    pytest.param(
        Case(
            403,
            {
                "x-brd-err-code": "client_10090",
                "x-brd-error": "You are trying to use Scraping Browser zone as regular proxy",
            },
        ),
        AccessDenied,
        False,
        "client_10090",
        'zone "mcp_unlocker" is not a Web Unlocker zone (403 client_10090: You are trying',
        id="403-client_10090",
    ),
    pytest.param(
        Case(403, {"x-brd-err-code": "policy_20050", "x-brd-error": "Forbidden by policy"}),
        PolicyBlocked,
        False,
        "policy_20050",
        f"Bright Data's usage policy blocks {URL} (403 policy_20050: Forbidden by policy)",
        id="403-policy",
    ),
    pytest.param(
        Case(407, {"x-brd-error": "Proxy authentication required"}),
        ProxyAuthFailed,
        False,
        None,
        'check BRIGHTDATA_API_TOKEN and that Bright Data zone "mcp_unlocker" is active',
        id="407",
    ),
    pytest.param(
        Case(429, {"x-brd-error-code": "sr_rate_limit", "retry-after": "7"}),
        RateLimited,
        True,
        "sr_rate_limit",
        "(429 sr_rate_limit); retry after 7 s",
        id="429",
    ),
    pytest.param(
        Case(429, body="You have too many running jobs for this dataset. Running jobs: 100>=100", zone=None),
        RateLimited,
        True,
        None,
        "too many running jobs",
        id="429-running-jobs",
    ),
    pytest.param(
        Case(502, {"x-brd-error-code": "reject_block", "x-brd-error": "Request was blocked"}),
        UnlockFailed,
        True,
        "reject_block",
        f"Bright Data could not unlock {URL} (502 reject_block: Request was blocked); retry later",
        id="502-reject_block",
    ),
    pytest.param(
        Case(
            502,
            {
                "x-luminati-error-code": "expect_element",
                "x-luminati-error": 'waiting for selector ".price" failed: timeout 90000ms exceeded',
            },
        ),
        UnlockFailed,
        True,
        "expect_element",
        '(502 expect_element: waiting for selector ".price" failed',
        id="502-legacy-headers",
    ),
    pytest.param(
        Case(502, {"x-brd-error-code": "resolve_failed_dns", "x-brd-error": "Could not resolve host"}),
        UnlockFailed,
        False,
        "resolve_failed_dns",
        "check the URL's host name",
        id="502-dns",
    ),
    pytest.param(
        Case(503, body="Service Unavailable"),
        ServerError,
        True,
        None,
        "(503 Service Unavailable); retry later",
        id="503",
    ),
    pytest.param(
        Case(404, body="dataset does not exist", zone=None),
        DatasetNotFound,
        False,
        None,
        "check the dataset id",
        id="404-dataset",
    ),
    pytest.param(
        Case(418, body="I'm a teapot"),
        UnexpectedResponse,
        False,
        None,
        "unexpected status (418 I'm a teapot)",
        id="418",
    ),
]


@pytest.mark.parametrize(("case", "error_type", "retryable", "code", "wording"), CASES)
def test_response_maps_to_error(
    case: Case, error_type: type[BrightDataError], retryable: bool, code: str | None, wording: str
) -> None:
    error = error_from_response(URL, status=case.status, headers=case.headers, body=case.body, zone=case.zone)

    assert type(error) is error_type
    assert isinstance(error, FetchError)
    assert error.url == URL
    assert error.status == case.status
    assert error.retryable is retryable
    assert error.error_code == code
    assert wording in str(error)
    assert URL in str(error)
    assert error.billed_requests == 0


def test_html_body_is_flattened() -> None:
    error = error_from_response(URL, status=403, headers={}, body="<h1>Denied</h1>\n\n<p>No  access</p>")
    assert "(403 Denied No access)" in str(error)


def test_long_body_is_shortened() -> None:
    error = error_from_response(URL, status=500, headers={}, body="x" * 5000)
    assert len(str(error)) < 400


def test_retry_after_is_parsed() -> None:
    error = error_from_response(URL, status=429, headers={"retry-after": "12"}, body="")
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 12.0


def test_retry_after_absent_says_later() -> None:
    error = error_from_response(URL, status=429, headers={}, body="")
    assert isinstance(error, RateLimited)
    assert error.retry_after_s is None
    assert str(error).endswith("; retry later")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_forms(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=1445412470.0) == seconds


def test_redact_removes_token() -> None:
    assert redact("Bearer abc123 was rejected", "abc123") == "Bearer [redacted] was rejected"
    assert redact("nothing to hide", "") == "nothing to hide"


def test_repr_omits_message() -> None:
    error = error_from_response(URL, status=401, headers={}, body="Invalid credentials")
    assert repr(error) == f"TokenRejected(url={URL!r}, status=401, error_code=None, retryable=False)"

"""Blocked-page detection: the statuses, bot walls and empty bodies that send a page to the fallback."""

from __future__ import annotations

import pytest

from product_extractor.web.blocked import blocked_error_reason, blocked_reason
from product_extractor.web.fetcher import HTTPStatusError, NotHTML, Page


def page(text: str, status: int = 200) -> Page:
    return Page(
        url="https://shop.example/p/1",
        requested_url="https://shop.example/p/1",
        status=status,
        headers={},
        body=text.encode(),
        content_type="",
        elapsed=0.1,
    )


PRODUCT_PAGE = "<html><body><h1>Oak table</h1><p>A solid oak table for six, 450 GBP.</p></body></html>"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "an empty body"),
        ("<html><head><script>var a = 1;</script></head><body> </body></html>", "an empty body"),
        (
            "<html><body><h1>Please complete the CAPTCHA to continue</h1></body></html>",
            "a captcha or bot-wall page",
        ),
        (
            "<html><body><p>Are you a robot? We noticed unusual traffic.</p></body></html>",
            "a captcha or bot-wall page",
        ),
        (
            "<html><body><h1>Access Denied</h1><p>You don't have permission.</p></body></html>",
            "a captcha or bot-wall page",
        ),
        (
            '<html><body><div id="challenge-platform">Just a moment...</div></body></html>',
            "a captcha or bot-wall page",
        ),
    ],
)
def test_bot_walls_and_empty_bodies_blocked(text: str, reason: str) -> None:
    assert blocked_reason(page(text)) == reason


def test_real_product_page_not_blocked() -> None:
    assert blocked_reason(page(PRODUCT_PAGE)) is None


def test_large_page_mentioning_captcha_not_blocked() -> None:
    text = PRODUCT_PAGE.replace("</body>", "<form>captcha</form>" + "<p>spec row</p>" * 10_000 + "</body>")
    assert blocked_reason(page(text)) is None


@pytest.mark.parametrize("status", [403, 429, 503])
def test_blocking_statuses_blocked(status: int) -> None:
    assert blocked_reason(page(PRODUCT_PAGE, status=status)) == f"HTTP {status}"
    error = HTTPStatusError("https://shop.example/p/1", status, f"HTTP {status}")
    assert blocked_error_reason(error) == f"HTTP {status}"


@pytest.mark.parametrize("status", [404, 410, 500])
def test_other_statuses_not_blocked(status: int) -> None:
    error = HTTPStatusError("https://shop.example/p/1", status, f"HTTP {status}")
    assert blocked_error_reason(error) is None


def test_non_html_not_blocked() -> None:
    assert blocked_error_reason(NotHTML("https://shop.example/a.pdf", "not HTML")) is None

"""Recognise a page that a shop's bot defence served instead of the real one."""

from __future__ import annotations

import re

from product_extractor.web.fetcher import FetchError, HTTPStatusError, Page

# Statuses that bot walls and rate limiters respond with: 403 (forbidden, the
# usual WAF response), 429 (too many requests) and 503 (Cloudflare and Akamai
# challenges, and overloaded origins).
BLOCKED_STATUSES = frozenset({403, 429, 503})

# A bot wall is a small page, while a real product page that mentions "captcha"
# in a login form is large. So only pages up to this size are searched for bot-wall text.
MAX_BOT_WALL_CHARS = 60_000
_BOT_WALL = re.compile(
    r"captcha|are you a (?:human|robot)|verify you are (?:a )?human|unusual traffic|"
    r"access denied|request unsuccessful\. incapsula|cf-chl-|challenge-platform|"
    r"px-captcha|perimeterx|datadome|robot check|enable javascript and cookies to continue",
    re.IGNORECASE,
)
# A page with fewer visible characters than this, once tags, scripts and styles are gone, is empty.
MIN_BODY_TEXT_CHARS = 20
_TAGS = re.compile(r"<script\b.*?</script>|<style\b.*?</style>|<[^>]+>", re.IGNORECASE | re.DOTALL)


def blocked_reason(page: Page) -> str | None:
    """Return why `page` looks like a bot wall or an empty response, or None for a real page."""
    if page.status in BLOCKED_STATUSES:
        return f"HTTP {page.status}"
    # UTF-8, UTF-16 and UTF-32 take at most 4 bytes per character, and single-byte and CJK charsets
    # fewer, so a longer body needs no decoding to rule out.
    # NOTE: UTF-7 and ISO-2022 escapes can take more, so a bot wall in them may go unrecognised.
    if len(page.body) > 4 * MAX_BOT_WALL_CHARS:
        return None
    text = page.text
    if len(text) > MAX_BOT_WALL_CHARS:
        return None

    if _BOT_WALL.search(text):
        return "a captcha or bot-wall page"
    visible = " ".join(_TAGS.sub(" ", text).split())
    if len(visible) < MIN_BODY_TEXT_CHARS:
        return "an empty body"
    return None


def blocked_error_reason(error: FetchError) -> str | None:
    """Return why a failed fetch looks blocked (403, 429 or 503), or None for other failures."""
    if isinstance(error, HTTPStatusError) and error.status in BLOCKED_STATUSES:
        return f"HTTP {error.status}"
    return None

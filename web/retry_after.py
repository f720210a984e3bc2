"""Parse the `Retry-After` header (RFC 9110, section 10.2.3): delta-seconds or an HTTP date."""

from __future__ import annotations

import email.utils
import time


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the wait a Retry-After header requests, in seconds, or None when it is absent or invalid.

    `now` is the current time in seconds since the epoch, for an HTTP date; a
    date in the past means no wait.

    >>> parse_retry_after("12")
    12.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, moment.timestamp() - now)

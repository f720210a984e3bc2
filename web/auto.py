"""The `auto` backend: fetch directly, and refetch through a paid backend only what comes back blocked."""

from __future__ import annotations

import dataclasses
import logging

from product_extractor.web.blocked import blocked_error_reason, blocked_reason
from product_extractor.web.fetcher import Fetcher, FetchError, Page

logger = logging.getLogger(__name__)


class AutoFetcher:
    """A `Fetcher` that tries `direct` first and asks `fallback` once for a page that looks blocked.

    A blocked page is a 403, 429 or 503 answer, a captcha or bot-wall page, or
    an empty body (see `web.blocked`). Only those pages reach the fallback, so
    a paid fallback bills nothing for pages the shop serves directly.
    """

    backend_name = "direct"  # the first attempt at every page is direct

    def __init__(self, direct: Fetcher, fallback: Fetcher) -> None:
        self.direct = direct
        self.fallback = fallback

    async def aclose(self) -> None:
        await self.direct.aclose()
        await self.fallback.aclose()

    async def fetch(self, url: str) -> Page:
        try:
            page = await self.direct.fetch(url)
        except FetchError as error:
            reason = blocked_error_reason(error)
            if reason is None:
                raise
            return await self._fall_back(url, reason, direct_requests=error.requests)

        reason = blocked_reason(page)
        if reason is None:
            return page
        return await self._fall_back(url, reason, direct_requests=page.requests)

    async def _fall_back(self, url: str, reason: str, *, direct_requests: int) -> Page:
        logger.info("%s came back blocked (%s); fetching it through the fallback backend", url, reason)
        try:
            page = await self.fallback.fetch(url)
        except FetchError as error:
            error.requests += direct_requests
            raise
        return dataclasses.replace(page, requests=page.requests + direct_requests, fallback_reason=reason)

"""Stream products to the caller in batches, as progress notifications whose `_meta` carries the records.

MCP 2026-07-28 deprecates the logging capability, so product data travels in
progress notifications. `progress` counts the products sent so far and `total`
the products expected from the URLs heard from so far. `message` is one line
for the URL the latest products came from, and `_meta[BATCH_META_KEY]`
contains the batch.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import ProgressNotification, ProgressNotificationParams

from product_extractor.products import Product
from product_extractor.server.summary import progress_line
from product_extractor.tools.results import product_record

logger = logging.getLogger(__name__)

# The `_meta` key of a progress notification that contains a batch: {"products": [records]}.
BATCH_META_KEY = "io.github.product-extractor/products"


class BatchStreamer:
    """Collect products as URLs find them and send them in batches of `batch_size` or every `interval_s`.

    With a progress token the batches go out as progress notifications with
    `_meta`. Without one (the SDK's in-memory client passes progress to a
    callback instead) the counts and messages go through the SDK's progress
    report, which carries no `_meta`, and a caller that asked for no progress
    receives nothing.
    """

    def __init__(self, ctx: Context, *, batch_size: int, interval_s: float, fields: list[str] | None) -> None:
        self.ctx = ctx
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.fields = fields
        meta = ctx.request_context.meta
        self.progress_token = meta.get("progress_token") if meta is not None else None
        self.pending: list[dict[str, Any]] = []
        self.sent = 0
        self.expected_by_url: dict[str, int] = {}
        self.message: str | None = None
        self.last_sent = time.monotonic()

    async def add(self, url: str, products: list[Product], found: int, expected: int) -> None:
        """Take products one URL just found; send a batch when `batch_size` are waiting."""
        self.pending.extend(product_record(product, self.fields) for product in products)
        self.expected_by_url[url] = expected
        self.message = progress_line(url, found, expected)
        if len(self.pending) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        """Send the waiting products, if any, as one progress notification."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.sent += len(batch)
        self.last_sent = time.monotonic()
        total = max(sum(self.expected_by_url.values()), self.sent)
        if self.progress_token is None:
            await self.ctx.report_progress(self.sent, total=total, message=self.message)
            return
        notification = ProgressNotification(
            params=ProgressNotificationParams(
                progress_token=self.progress_token,
                progress=self.sent,
                total=total,
                message=self.message,
                _meta={BATCH_META_KEY: {"products": batch}},
            )
        )
        await self.ctx.session.send_notification(notification, related_request_id=self.ctx.request_id)

    async def send_periodically(self) -> None:
        """Flush waiting products every `interval_s` seconds until cancelled."""
        while True:
            await anyio.sleep(self.interval_s)
            if time.monotonic() - self.last_sent >= self.interval_s:
                await self.flush()

"""The Bright Data stand-in: a Starlette app speaking the Web Unlocker and Web Scraper API over saved pages.

| method and path | endpoint |
| --- | --- |
| `POST /request` | Web Unlocker (unlocker.py) |
| `POST /datasets/v3/scrape`, `/trigger` | Web Scraper API collections (dataset_api.py) |
| `GET /datasets/v3/progress/{id}`, `/snapshot/{id}`; `POST /snapshot/{id}/cancel` | snapshots |
| `GET /zone/get_active_zones`, `POST /zone` | the zones, and creating one |
| `GET /_log` (`DELETE` clears), `GET /_billing` | the sandbox's own request log and billing counters |

Every API endpoint checks the bearer token first; /_log and /_billing need none.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from product_extractor.sandbox.brightdata_state import (
    Billing,
    brightdata_request_record,
    reject_unauthenticated,
)
from product_extractor.sandbox.dataset_api import DatasetEndpoints, DatasetSettings
from product_extractor.sandbox.request_log import BrightDataRecord, RequestLog, RequestLogMiddleware
from product_extractor.sandbox.saved_pages import SavedPages
from product_extractor.sandbox.serving import InjectedDelays
from product_extractor.sandbox.snapshots import SnapshotBehaviour, SnapshotStore
from product_extractor.sandbox.unlocker import ZONE_TYPE, UnlockerEndpoint, UnlockerSettings
from product_extractor.sandbox.unlocker_faults import UnlockerFaultPlan


class BrightDataApp:
    """The Bright Data stand-in's ASGI app; other threads may change its faults, quota and snapshots."""

    def __init__(
        self,
        pages: SavedPages,
        *,
        token: str,
        unlocker: UnlockerSettings,
        faults: UnlockerFaultPlan,
        datasets: DatasetSettings,
        snapshot_behaviour: SnapshotBehaviour,
        quota: int | None = None,
        seed: int = 1,
    ) -> None:
        self.pages = pages
        self.billing = Billing()
        self.log: RequestLog[BrightDataRecord] = RequestLog()
        self._token = token
        self._delays = InjectedDelays()
        self.unlocker = UnlockerEndpoint(
            pages,
            token=token,
            settings=unlocker,
            faults=faults,
            billing=self.billing,
            delays=self._delays,
            quota=quota,
        )
        self.datasets = DatasetEndpoints(
            pages,
            token=token,
            settings=datasets,
            billing=self.billing,
            delays=self._delays,
            snapshots=SnapshotStore(seed=seed),
            behaviour=snapshot_behaviour,
        )

        routes = [
            Route("/request", self.unlocker.request, methods=["POST"]),
            Route("/zone/get_active_zones", self._active_zones, methods=["GET"]),
            Route("/zone", self._create_zone, methods=["POST"]),
            Route("/datasets/v3/scrape", self.datasets.scrape, methods=["POST"]),
            Route("/datasets/v3/trigger", self.datasets.trigger, methods=["POST"]),
            Route("/datasets/v3/progress/{snapshot_id}", self.datasets.progress, methods=["GET"]),
            Route("/datasets/v3/snapshot/{snapshot_id}", self.datasets.snapshot, methods=["GET"]),
            Route("/datasets/v3/snapshot/{snapshot_id}/cancel", self.datasets.cancel, methods=["POST"]),
            Route("/_log", self._request_log, methods=["GET", "DELETE"]),
            Route("/_billing", self._billing, methods=["GET"]),
        ]
        self._asgi = RequestLogMiddleware(Starlette(routes=routes), self.log, brightdata_request_record)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def stop_waiting(self) -> None:
        """End every injected delay now and skip later ones; call from the server's event loop."""
        self._delays.stop()

    async def _active_zones(self, request: Request) -> Response:
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected
        zones = self.unlocker.zones
        return JSONResponse([{"name": name, "type": zone_type} for name, zone_type in zones.items()])

    async def _create_zone(self, request: Request) -> Response:
        """Create a zone from `{"zone": {"name", "type"}, "plan": {...}}`, as the SDK and MCP server send.

        An existing name gets 409, which those clients count as success. Only
        `unblocker` zones serve /request; other types are listed but rejected there.
        """
        rejected = reject_unauthenticated(request, self._token)
        if rejected is not None:
            return rejected
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("Request body is not valid JSON", status_code=400)
        zone = body.get("zone") if isinstance(body, dict) else None
        name = zone.get("name") if isinstance(zone, dict) else None
        zone_type = zone.get("type", ZONE_TYPE) if isinstance(zone, dict) else None
        if not isinstance(name, str) or not name or not isinstance(zone_type, str):
            return PlainTextResponse('zone.name is required, as in {"zone": {"name": "my_unlocker"}}', 400)

        if name in self.unlocker.zones:
            return PlainTextResponse(f"Zone {name} already exists", status_code=409)
        self.unlocker.zones[name] = zone_type
        return JSONResponse({"name": name, "type": zone_type})

    async def _request_log(self, request: Request) -> Response:
        if request.method == "DELETE":
            cleared = len(self.log.records())
            self.log.clear()
            return JSONResponse({"cleared": cleared})
        return JSONResponse({"requests": [record.to_json() for record in self.log.records()]})

    async def _billing(self, request: Request) -> Response:
        requests, records, by_target = self.billing.totals()
        return JSONResponse({"billed_requests": requests, "billed_records": records, "by_target": by_target})

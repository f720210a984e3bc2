"""The HTTP plumbing both Bright Data clients share: the authenticated client and error responses."""

from __future__ import annotations

import copy
import json
from typing import Self

import httpx2 as httpx
from pydantic import SecretStr

from product_extractor.brightdata.cost import CostMeter
from product_extractor.brightdata.errors import (
    ApiTimeout,
    ApiUnreachable,
    BrightDataError,
    UnexpectedResponse,
    error_from_response,
    redact,
)
from product_extractor.web.limits import RequestGate

# Largest error body read, in bytes: Bright Data's error bodies are one line, and an
# HTML "usage limit" page is a few kilobytes.
_ERROR_BODY_BYTES = 64 * 1024


def make_client(
    *,
    token: SecretStr,
    base_url: str,
    timeout_s: float,
    max_connections: int,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """Build the one pooled client that sends every call with `Authorization: Bearer <token>`."""
    secret = token.get_secret_value()
    if not secret.strip():
        raise ValueError("the Bright Data API token is empty; set BRIGHTDATA_API_TOKEN")

    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {secret}", "User-Agent": "product-extractor-mcp"},
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        follow_redirects=False,
        transport=transport,
    )


def lower_headers(response: httpx.Response) -> dict[str, str]:
    return {key.lower(): value for key, value in response.headers.items()}


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    url: str,
    endpoint: str,
    timeout_s: float,
    token: SecretStr,
    requests: int = 1,
) -> httpx.Response:
    """Send `request` with a streamed body, turning transport failures into retryable Bright Data errors.

    `url` is the target the call is for and `endpoint` names the API in messages
    ("the Web Unlocker", "the Web Scraper API progress check").
    """
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as error:
        raise ApiTimeout(
            url,
            f"{url} timed out after {timeout_s:g} s waiting for {endpoint} ({type(error).__name__}); "
            "retry later",
            retryable=True,
            requests=requests,
        ) from None
    except httpx.TransportError as error:
        reason = redact(str(error), token.get_secret_value()) or "connection failed"
        raise ApiUnreachable(
            url,
            f"{url} could not be fetched because {endpoint} at {client.base_url} is unreachable "
            f"({type(error).__name__}: {reason}); check the network and the Bright Data base URL",
            retryable=True,
            requests=requests,
        ) from None


async def read_error(
    response: httpx.Response,
    *,
    url: str,
    token: SecretStr,
    zone: str | None = None,
    status: int | None = None,
    requests: int = 1,
) -> BrightDataError:
    """Read a bounded part of an error response's body and build its typed error.

    `status` overrides the response's own status, for errors that the Web Unlocker
    reports inside a 200 response.
    """
    headers, body = await read_error_parts(response, token=token)
    return error_from_response(
        url,
        status=response.status_code if status is None else status,
        headers=headers,
        body=body,
        zone=zone,
        requests=requests,
    )


async def read_error_parts(response: httpx.Response, *, token: SecretStr) -> tuple[dict[str, str], str]:
    """Return an error response's lower-cased headers and the start of its body, with the token redacted."""
    body = await _read_prefix(response, _ERROR_BODY_BYTES)
    secret = token.get_secret_value()
    headers = {name: redact(value, secret) for name, value in lower_headers(response).items()}
    return headers, redact(body.decode("utf-8", errors="replace"), secret)


async def read_json(
    response: httpx.Response, *, url: str, max_bytes: int, endpoint: str, requests: int = 1
) -> object:
    """Read and parse a JSON body of at most `max_bytes`; NDJSON becomes a list of its lines' values."""
    body = await _read_prefix(response, max_bytes + 1)
    if len(body) > max_bytes:
        raise UnexpectedResponse(
            url,
            f"{endpoint} for {url} sent more than {max_bytes // (1024 * 1024)} MB; "
            "scrape fewer URLs per call",
            requests=requests,
        )

    text = body.decode("utf-8", errors="replace").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass

    # The synchronous scrape endpoint occasionally returns NDJSON, one record a line.
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise UnexpectedResponse(
            url,
            f"{endpoint} for {url} sent a body that is not JSON (HTTP {response.status_code}); retry later",
            status=response.status_code,
            retryable=True,
            requests=requests,
        ) from None


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.TransportError:
        pass  # an error or JSON body cut short still says what it can
    return b"".join(chunks)[:limit]


class MeteredApiClient:
    """One pooled HTTP client for a Bright Data API, and per-call views of it with their own cost meter.

    Every API request passes `gate` (the server's rate limit toward Bright Data
    and its limit on requests in flight) before it is sent.
    """

    def __init__(
        self,
        *,
        token: SecretStr,
        base_url: str,
        timeout_s: float,
        max_connections: int,
        meter: CostMeter | None,
        transport: httpx.AsyncBaseTransport | None,
        gate: RequestGate | None = None,
    ) -> None:
        self.meter = meter
        self.gate = gate or RequestGate()
        self._client = make_client(
            token=token,
            base_url=base_url,
            timeout_s=timeout_s,
            max_connections=max_connections,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def with_meter(self, meter: CostMeter | None) -> Self:
        """Return a view that shares this client's connections but bills against `meter`.

        One server keeps one client; each tool call gets a view with its own meter,
        so a call's `max_cost_usd` caps that call only. Close only the original.
        """
        view = copy.copy(self)
        view.meter = meter
        view._start_call()
        return view

    def _start_call(self) -> None:
        """Reset state that belongs to one call, on a new view; subclasses add theirs."""

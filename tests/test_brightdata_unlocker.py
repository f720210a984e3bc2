"""The Web Unlocker fetcher against the sandbox Bright Data server on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
import pytest
from pydantic import SecretStr

from product_extractor.brightdata.cost import CostCapReached, CostMeter
from product_extractor.brightdata.errors import (
    AccessDenied,
    ApiTimeout,
    BrightDataError,
    ProxyAuthFailed,
    RateLimited,
    ServerError,
    TokenRejected,
    UnlockFailed,
    UsageLimitReached,
    ZoneNotFound,
)
from product_extractor.brightdata.unlocker import UnlockerConfig, WebUnlockerFetcher
from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningBrightData, running_brightdata
from product_extractor.web.fetcher import FetchError, FetchTimeout, HTTPStatusError, Page, TooLarge

# Distinctive, so a search of logs and messages for it cannot match anything else.
TOKEN = "tok-7f3e91c2a4b8d6e0-unlocker-test"
WRONG_TOKEN = "tok-0000wrong1111token2222"

TORCH = "https://www.sample-kitchen.example/item/creme-brulee-torch"  # saved in windows-1252
TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"
MOSS = "https://www.sample-books.example/book/a-field-guide-to-moss"
MISSING = "https://www.sample-outdoor.example/products/no-such-tent"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningBrightData]:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN) as running:
        yield running


@pytest.fixture
def brightdata(server: RunningBrightData) -> RunningBrightData:
    """The module's sandbox with no faults, no quota, an empty log and zero billing."""
    server.clear_faults()
    server.set_quota(None)
    server.reset_billing()
    server.clear_log()
    return server


def config(brightdata: RunningBrightData, **overrides: object) -> UnlockerConfig:
    settings: dict[str, object] = {"token": SecretStr(brightdata.token), "base_url": brightdata.base_url}
    settings.update(overrides)
    return UnlockerConfig(**settings)  # type: ignore[arg-type]


async def fetch(brightdata: RunningBrightData, url: str, **overrides: object) -> Page:
    fetcher = WebUnlockerFetcher(config(brightdata, **overrides))
    try:
        return await fetcher.fetch(url)
    finally:
        await fetcher.aclose()


async def fetch_error(brightdata: RunningBrightData, url: str, **overrides: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await fetch(brightdata, url, **overrides)
    return caught.value


@pytest.mark.anyio
async def test_saved_page_decoded_and_billed(brightdata: RunningBrightData) -> None:
    page = await fetch(brightdata, TORCH)

    assert page.status == 200
    assert "Crème Brûlée Torch" in page.text
    assert page.url == TORCH
    assert page.requests == 1
    assert page.billed_requests == 1
    assert brightdata.billed_requests() == 1


@pytest.mark.anyio
async def test_request_names_zone_and_url(brightdata: RunningBrightData) -> None:
    await fetch(brightdata, TENT)

    [record] = brightdata.request_log()
    assert record.method == "POST"
    assert record.path == "/request"
    assert record.zone == "mcp_unlocker"
    assert record.target_url == TENT


@pytest.mark.anyio
async def test_country_is_sent(brightdata: RunningBrightData) -> None:
    page = await fetch(brightdata, TENT, country="us")
    assert page.status == 200


@pytest.mark.anyio
async def test_missing_page_is_billed_404(brightdata: RunningBrightData) -> None:
    error = await fetch_error(brightdata, MISSING)

    assert isinstance(error, HTTPStatusError)
    assert error.status == 404
    assert error.billed_requests == 1
    assert MISSING in str(error)
    assert brightdata.billed_requests() == 1


@pytest.mark.anyio
async def test_wrong_token_rejected(brightdata: RunningBrightData) -> None:
    error = await fetch_error(brightdata, TENT, token=SecretStr(WRONG_TOKEN))

    assert isinstance(error, TokenRejected)
    assert error.status == 401
    assert not error.retryable
    assert "BRIGHTDATA_API_TOKEN was rejected (401" in str(error)
    assert "check the token" in str(error)
    assert error.billed_requests == 0


@pytest.mark.anyio
async def test_unknown_zone_rejected(brightdata: RunningBrightData) -> None:
    error = await fetch_error(brightdata, TENT, zone="shop_zone")

    assert isinstance(error, ZoneNotFound)
    assert error.status == 400
    assert 'zone "shop_zone" not found' in str(error)
    assert "create a Web Unlocker zone named shop_zone" in str(error)
    assert "PRODUCT_EXTRACTOR_BRIGHTDATA_ZONE" in str(error)


@pytest.mark.anyio
async def test_usage_limit_is_client_10100(brightdata: RunningBrightData) -> None:
    brightdata.set_quota(0)
    error = await fetch_error(brightdata, TENT)

    assert isinstance(error, UsageLimitReached)
    assert error.status == 403
    assert error.error_code == "client_10100"
    assert not error.retryable
    assert "usage limit" in str(error)
    assert brightdata.billed_requests() == 0


@pytest.mark.anyio
async def test_plain_403_is_access_denied(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, status=403)
    error = await fetch_error(brightdata, TENT)

    assert type(error) is AccessDenied
    assert error.status == 403


@pytest.mark.anyio
async def test_407_is_proxy_auth_failure(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, status=407)
    error = await fetch_error(brightdata, TENT)

    assert isinstance(error, ProxyAuthFailed)
    assert error.status == 407
    assert not error.retryable


@pytest.mark.anyio
async def test_unlock_failure_is_retryable(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, unlock_error="reject_block")
    error = await fetch_error(brightdata, TENT)

    assert isinstance(error, UnlockFailed)
    assert error.status == 502
    assert error.error_code == "reject_block"
    assert error.retryable
    assert "Request was blocked by the target site" in str(error)
    assert error.billed_requests == 0
    assert brightdata.billed_requests() == 0


@pytest.mark.anyio
async def test_target_5xx_is_unlock_failure(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, target_status=500)
    error = await fetch_error(brightdata, TENT)

    assert isinstance(error, UnlockFailed)
    assert error.error_code == "http_status"
    assert error.retryable


@pytest.mark.anyio
async def test_unresolvable_host_not_retryable(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, unlock_error="resolve_failed_dns")
    error = await fetch_error(brightdata, TENT)

    assert isinstance(error, UnlockFailed)
    assert not error.retryable
    assert "check the URL's host name" in str(error)


@pytest.mark.anyio
async def test_server_error_is_retryable(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, status=503)
    error = await fetch_error(brightdata, TENT)

    assert isinstance(error, ServerError)
    assert error.status == 503
    assert error.retryable


@pytest.mark.anyio
async def test_slow_unlocker_times_out(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TENT, latency=2.0)
    error = await fetch_error(brightdata, TENT, request_timeout_s=0.3)

    assert isinstance(error, ApiTimeout)
    assert isinstance(error, FetchTimeout)
    assert error.retryable
    assert "timed out after 0.3 s" in str(error)


@pytest.mark.anyio
async def test_large_page_is_billed(brightdata: RunningBrightData) -> None:
    error = await fetch_error(brightdata, TENT, max_bytes=1024)

    assert isinstance(error, TooLarge)
    assert error.billed_requests == 1


def test_legacy_headers_map_the_same() -> None:
    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, legacy_error_headers=True) as legacy:
        legacy.set_fault(TENT, unlock_error="expect_element")
        error = anyio.run(fetch_error, legacy, TENT)

    assert isinstance(error, UnlockFailed)
    assert error.error_code == "expect_element"
    assert 'waiting for selector "body" failed' in str(error)


def test_rate_limit_reads_retry_after() -> None:
    async def fetch_twice(limited: RunningBrightData) -> FetchError:
        await fetch(limited, TENT)
        return await fetch_error(limited, TENT)

    with running_brightdata(SAMPLE_SHOP_DIR, token=TOKEN, rate_limit="1/30s") as limited:
        error = anyio.run(fetch_twice, limited)

    assert isinstance(error, RateLimited)
    assert error.error_code == "sr_rate_limit"
    assert error.retryable
    assert error.retry_after_s is not None
    assert 1 <= error.retry_after_s <= 30
    assert f"retry after {error.retry_after_s:g} s" in str(error)


@pytest.mark.anyio
async def test_meter_counts_billed_requests(brightdata: RunningBrightData) -> None:
    meter = CostMeter()
    fetcher = WebUnlockerFetcher(config(brightdata), meter=meter)
    brightdata.set_fault(MOSS, unlock_error="reject_block")
    try:
        await fetcher.fetch(TENT)
        with pytest.raises(HTTPStatusError):
            await fetcher.fetch(MISSING)
        with pytest.raises(UnlockFailed):
            await fetcher.fetch(MOSS)
    finally:
        await fetcher.aclose()

    assert meter.billed_requests == 2
    assert meter.billed_requests == brightdata.billed_requests()
    assert meter.estimated_cost_usd == pytest.approx(0.003)
    assert meter.reserved_cost_usd == 0


@pytest.mark.anyio
async def test_cost_cap_stops_before_request(brightdata: RunningBrightData) -> None:
    meter = CostMeter(max_cost_usd=0.003)
    fetcher = WebUnlockerFetcher(config(brightdata), meter=meter)
    try:
        await fetcher.fetch(TENT)
        await fetcher.fetch(TORCH)
        with pytest.raises(CostCapReached) as caught:
            await fetcher.fetch(MOSS)
    finally:
        await fetcher.aclose()

    assert str(caught.value).startswith(
        f"stopped before {MOSS} because the next billed request would pass max_cost_usd=0.003 (spent 0.003)"
    )
    assert caught.value.billed_requests == 0
    assert len(brightdata.request_log()) == 2
    assert brightdata.billed_requests() == 2


@pytest.mark.anyio
async def test_cost_cap_holds_under_concurrency(brightdata: RunningBrightData) -> None:
    brightdata.set_fault("www.sample-outdoor.example", latency=0.2)
    meter = CostMeter(max_cost_usd=0.0045)  # three requests at $1.50 per 1,000
    fetcher = WebUnlockerFetcher(config(brightdata), meter=meter)
    outcomes: list[str] = []

    async def fetch_one() -> None:
        try:
            await fetcher.fetch(TENT)
            outcomes.append("page")
        except CostCapReached:
            outcomes.append("capped")

    try:
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(fetch_one)
    finally:
        await fetcher.aclose()

    assert outcomes.count("page") == 3
    assert outcomes.count("capped") == 7
    assert brightdata.billed_requests() == 3


@pytest.mark.anyio
async def test_token_never_texts(brightdata: RunningBrightData, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []

    brightdata.set_fault(MOSS, unlock_error="reject_block")
    for url, overrides in [
        (TENT, {"token": SecretStr(WRONG_TOKEN)}),
        (TENT, {"zone": "shop_zone"}),
        (MISSING, {}),
        (MOSS, {}),
        (TENT, {"max_bytes": 1024}),
        ("https://127.0.0.1:1/unreachable", {"base_url": "http://127.0.0.1:1"}),
    ]:
        errors.append(await fetch_error(brightdata, url, **overrides))
    brightdata.set_quota(0)
    errors.append(await fetch_error(brightdata, TENT))

    fetcher = WebUnlockerFetcher(config(brightdata))
    texts = [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [repr(config(brightdata)), str(config(brightdata)), repr(fetcher)]
    await fetcher.aclose()

    assert all(isinstance(error, FetchError) for error in errors)
    assert any(isinstance(error, BrightDataError) for error in errors)
    for text in [*texts, caplog.text]:
        assert TOKEN not in text
        assert WRONG_TOKEN not in text

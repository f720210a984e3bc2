"""The Bright Data stand-in over real HTTP on 127.0.0.1: the sample shop always, the corpus when present."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from selectolax.lexbor import LexborHTMLParser

from product_extractor.sandbox import (
    LognormalLatency,
    RunningBrightData,
    load_saved_pages,
    running_brightdata,
)

TENT = "https://www.sample-outdoor.example/products/ridgeline-2-tent"
TORCH = "https://www.sample-kitchen.example/item/creme-brulee-torch"
ORCHARD = "https://www.sample-books.example/book/the-quiet-orchard"
UNSAVED_POLES = "https://www.sample-outdoor.example/products/canyon-trekking-poles"
OUTDOOR_CATEGORY = "https://www.sample-outdoor.example/_category"
OUTDOOR_LISTING = "https://www.sample-outdoor.example/collections/tents-and-more"

AMAZON_PRODUCT = "gd_l7q7dkf244hwjntr0"
WALMART_PRODUCT = "gd_l95fol7l1ru6rlo116"


@pytest.fixture(scope="module")
def brightdata() -> Iterator[RunningBrightData]:
    with running_brightdata(snapshot_ready_after=0.2) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as http:
        yield http


def auth(running: RunningBrightData) -> dict[str, str]:
    return {"Authorization": f"Bearer {running.token}"}


def unlock(
    client: httpx2.Client, running: RunningBrightData, url: str, response_format: str = "raw", **fields: Any
) -> httpx2.Response:
    """POST one Web Unlocker request for `url` to the default zone."""
    body = {"zone": "mcp_unlocker", "url": url, "format": response_format} | fields
    return client.post(f"{running.base_url}/request", headers=auth(running), json=body)


def hrefs(html: str, selector: str) -> list[str]:
    return [node.attributes["href"] or "" for node in LexborHTMLParser(html).css(selector)]


def saved_bytes(running: RunningBrightData, url: str) -> bytes:
    page = next(page for page in running.pages if page.url == url)
    return page.read_bytes()


def brd_headers(response: httpx2.Response) -> list[str]:
    return [name for name in response.headers if name.lower().startswith(("x-brd", "x-luminati"))]


# Authentication and zones


def test_missing_token_returns_401(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    body = {"zone": "mcp_unlocker", "url": TENT, "format": "raw"}
    response = client.post(f"{brightdata.base_url}/request", json=body)

    assert response.status_code == 401
    assert response.text == "User authentication is required"
    assert response.headers["content-type"].startswith("text/html")
    assert brd_headers(response) == []


def test_wrong_token_returns_401(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    body = {"zone": "mcp_unlocker", "url": TENT, "format": "raw"}
    response = client.post(
        f"{brightdata.base_url}/request", headers={"Authorization": "Bearer not-the-token"}, json=body
    )

    assert response.status_code == 401
    assert response.text == "Invalid credentials"
    assert brd_headers(response) == []
    assert brightdata.token not in response.text


def test_every_endpoint_needs_token(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    base = brightdata.base_url
    responses = [
        client.get(f"{base}/zone/get_active_zones"),
        client.post(f"{base}/datasets/v3/trigger?dataset_id={AMAZON_PRODUCT}", json=[{"url": TENT}]),
        client.post(f"{base}/datasets/v3/scrape?dataset_id={AMAZON_PRODUCT}", json=[{"url": TENT}]),
        client.get(f"{base}/datasets/v3/progress/sd_x"),
        client.get(f"{base}/datasets/v3/snapshot/sd_x"),
    ]

    assert [response.status_code for response in responses] == [401] * 5


def test_unknown_zone_returns_400(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = client.post(
        f"{brightdata.base_url}/request",
        headers=auth(brightdata),
        json={"zone": "other_zone", "url": TENT, "format": "raw"},
    )

    assert response.status_code == 400
    assert response.headers["x-brd-error"] == 'zone "other_zone" not found'
    assert "proxy-status" in response.headers


@pytest.mark.parametrize("url", ["www.sample-outdoor.example/", "ftp://www.sample-outdoor.example/", ""])
def test_url_without_http_returns_400(brightdata: RunningBrightData, client: httpx2.Client, url: str) -> None:
    response = unlock(client, brightdata, url)

    assert response.status_code == 400
    assert "http://" in response.headers["x-brd-error"]


def test_bad_format_returns_400(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(client, brightdata, TENT, response_format="html")

    assert response.status_code == 400
    assert "format" in response.headers["x-brd-error"]


def test_active_zones_listed(client: httpx2.Client) -> None:
    with running_brightdata(zones=("mcp_unlocker", "bench_unlocker")) as running:
        response = client.get(f"{running.base_url}/zone/get_active_zones", headers=auth(running))

    assert response.json() == [
        {"name": "mcp_unlocker", "type": "unblocker"},
        {"name": "bench_unlocker", "type": "unblocker"},
    ]


def test_created_zone_answers_requests(client: httpx2.Client) -> None:
    with running_brightdata() as running:
        body = {"zone": {"name": "sdk_unlocker", "type": "unblocker"}, "plan": {"type": "unblocker"}}
        created = client.post(f"{running.base_url}/zone", headers=auth(running), json=body)
        duplicate = client.post(f"{running.base_url}/zone", headers=auth(running), json=body)
        zones = client.get(f"{running.base_url}/zone/get_active_zones", headers=auth(running)).json()
        response = unlock(client, running, TENT, zone="sdk_unlocker")

    assert created.status_code == 200
    assert duplicate.status_code == 409
    assert {"name": "sdk_unlocker", "type": "unblocker"} in zones
    assert response.headers["x-brd-status-code"] == "200"


# Pages through the Web Unlocker


def test_raw_keeps_charset_and_bytes(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(client, brightdata, TORCH)

    assert response.status_code == 200
    assert response.headers["x-brd-status-code"] == "200"
    assert response.headers["content-type"] == "text/html; charset=windows-1252"
    assert response.content == saved_bytes(brightdata, TORCH)


def test_raw_links_not_rewritten(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(client, brightdata, OUTDOOR_LISTING)

    assert response.content == saved_bytes(brightdata, OUTDOOR_LISTING)
    assert brightdata.base_url not in response.text


def test_gzip_page_served_decompressed(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(client, brightdata, ORCHARD)

    assert "<h1>The Quiet Orchard</h1>" in response.text


def test_url_normalised_like_shop(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(
        client, brightdata, "HTTP://WWW.Sample-Outdoor.example/products/ridgeline-2-tent#reviews"
    )

    assert response.headers["x-brd-status-code"] == "200"
    assert response.content == saved_bytes(brightdata, TENT)


def test_json_envelope_fields(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    envelope = unlock(client, brightdata, TORCH, response_format="json").json()

    assert set(envelope) == {"status_code", "headers", "body"}
    assert envelope["status_code"] == 200
    assert envelope["headers"]["content-type"] == "text/html; charset=windows-1252"
    assert envelope["headers"]["x-brd-status-code"] == "200"
    assert '<h1 itemprop="name">Crème Brûlée Torch</h1>' in envelope["body"]


def test_missing_page_is_target_404(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    raw = unlock(client, brightdata, UNSAVED_POLES)
    envelope = unlock(client, brightdata, UNSAVED_POLES, response_format="json").json()

    assert raw.status_code == 200
    assert raw.headers["x-brd-status-code"] == "404"
    assert len(raw.content) < 500
    assert "x-brd-error" not in raw.headers
    assert envelope["status_code"] == 404


def test_category_links_are_original(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(client, brightdata, OUTDOOR_CATEGORY)
    expected = [page.url for page in brightdata.pages.sites["www.sample-outdoor.example"].products]

    assert response.headers["x-brd-status-code"] == "200"
    assert hrefs(response.text, ".product-card h2 a") == expected


def test_category_paginates_original_urls(client: httpx2.Client) -> None:
    with running_brightdata(category_page_size=3) as running:
        first = unlock(client, running, OUTDOOR_CATEGORY)
        following = hrefs(first.text, "link[rel=next]")
        second = unlock(client, running, following[0])
        beyond = unlock(client, running, f"{OUTDOOR_CATEGORY}?page=3")

    assert following == [f"{OUTDOOR_CATEGORY}?page=2"]
    assert len(hrefs(first.text, ".product-card h2 a")) == 3
    assert len(hrefs(second.text, ".product-card h2 a")) == 1
    assert beyond.headers["x-brd-status-code"] == "404"


def test_category_of_single_product_site_404(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = unlock(client, brightdata, "https://www.not-saved.example/_category")

    assert response.status_code == 200
    assert response.headers["x-brd-status-code"] == "404"


# Limits, unlock errors and injected faults


def test_quota_answers_403_client_10100(client: httpx2.Client) -> None:
    with running_brightdata(quota=2) as running:
        statuses = [unlock(client, running, TENT).status_code for _ in range(2)]
        over = unlock(client, running, TENT)
        billed = running.billed_requests()

    assert statuses == [200, 200]
    assert over.status_code == 403
    assert over.headers["x-brd-err-code"] == "client_10100"
    assert over.headers["content-type"].startswith("text/html")
    assert "Zone has reached usage limit" in over.text
    assert billed == 2


def test_rate_limit_429_with_retry_after(client: httpx2.Client) -> None:
    with running_brightdata(rate_limit="3/2s") as running:
        statuses = [unlock(client, running, TENT).status_code for _ in range(4)]
        limited = unlock(client, running, TENT)
        billed = running.billed_requests()

    assert statuses == [200, 200, 200, 429]
    assert limited.headers["x-brd-error-code"] == "sr_rate_limit"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert billed == 3


def test_rate_limit_window_slides(client: httpx2.Client) -> None:
    with running_brightdata(rate_limit="2/300ms") as running:
        first = [unlock(client, running, TENT).status_code for _ in range(3)]
        time.sleep(0.35)
        later = unlock(client, running, TENT).status_code

    assert first == [200, 200, 429]
    assert later == 200


@pytest.mark.parametrize("response_format", ["raw", "json"])
def test_unlock_error_is_502(
    brightdata: RunningBrightData, client: httpx2.Client, response_format: str
) -> None:
    brightdata.set_fault("www.sample-kitchen.example", unlock_error="reject_block")
    try:
        response = unlock(client, brightdata, TORCH, response_format=response_format)
    finally:
        brightdata.clear_faults()

    assert response.status_code == 502
    assert response.headers["x-brd-error-code"] == "reject_block"
    assert response.headers["x-brd-error"]
    assert "x-luminati-error" not in response.headers


def test_unlock_error_json_envelope(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault(TORCH, unlock_error="navigation_timeout")
    try:
        envelope = unlock(client, brightdata, TORCH, response_format="json").json()
    finally:
        brightdata.clear_faults()

    assert envelope["status_code"] == 502
    assert envelope["headers"]["x-brd-error"] == f"Navigation timeout @ {TORCH}"
    assert envelope["headers"]["x-brd-error-code"] == "navigation_timeout"
    assert envelope["body"] == ""


def test_legacy_error_header_names(client: httpx2.Client) -> None:
    with running_brightdata(legacy_error_headers=True, unlock_failure_rate=1.0) as running:
        response = unlock(client, running, TENT)

    assert response.status_code == 502
    assert response.headers["x-luminati-error-code"] == "reject_block"
    assert response.headers["x-luminati-error"] == response.headers["x-brd-error"]
    assert response.headers["x-brd-error-code"] == "reject_block"


def test_unlock_failures_repeat_with_seed(client: httpx2.Client) -> None:
    runs = []
    for _ in range(2):
        with running_brightdata(unlock_failure_rate=0.5, seed=3) as running:
            runs.append([unlock(client, running, TENT).status_code for _ in range(20)])

    assert set(runs[0]) == {200, 502}
    assert runs[0] == runs[1]


def test_target_5xx_becomes_http_status(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault(TENT, target_status=503)
    try:
        response = unlock(client, brightdata, TENT)
    finally:
        brightdata.clear_faults()

    assert response.status_code == 502
    assert response.headers["x-brd-error-code"] == "http_status"
    assert response.headers["x-brd-error"] == "response status was rejected: 503 status code"


def test_target_4xx_passes_through(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault(TENT, target_status=403)
    try:
        response = unlock(client, brightdata, TENT)
    finally:
        brightdata.clear_faults()

    assert response.status_code == 200
    assert response.headers["x-brd-status-code"] == "403"


def test_url_prefix_fault_beats_host(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault("www.sample-outdoor.example", status=503)
    brightdata.set_fault("https://www.sample-outdoor.example/products/", unlock_error="reject_block")
    try:
        product = unlock(client, brightdata, TENT)
        listing = unlock(client, brightdata, OUTDOOR_LISTING)
        other_site = unlock(client, brightdata, TORCH)
    finally:
        brightdata.clear_faults()

    assert product.status_code == 502
    assert listing.status_code == 503
    assert "x-brd-error" in listing.headers
    assert other_site.status_code == 200


def test_server_error_rate_one(client: httpx2.Client) -> None:
    with running_brightdata(server_error_rate=1.0) as running:
        response = unlock(client, running, TENT)
        billed = running.billed_requests()

    assert response.status_code == 500
    assert billed == 0


def test_timeout_holds_past_client_timeout(brightdata: RunningBrightData) -> None:
    brightdata.set_fault(TORCH, timeout=True)
    try:
        with httpx2.Client(timeout=0.5) as impatient:
            with pytest.raises(httpx2.ReadTimeout):
                unlock(impatient, brightdata, TORCH)
            assert unlock(impatient, brightdata, TENT).status_code == 200
    finally:
        brightdata.clear_faults()


def test_timeout_ends_in_navigation_timeout(client: httpx2.Client) -> None:
    with running_brightdata(timeout_rate=1.0, timeout_seconds=0.2) as running:
        started = time.monotonic()
        response = unlock(client, running, TENT)
        elapsed = time.monotonic() - started

    assert response.status_code == 502
    assert response.headers["x-brd-error-code"] == "navigation_timeout"
    assert elapsed >= 0.2


def test_seeded_latency_repeats(client: httpx2.Client) -> None:
    latency = LognormalLatency(median=0.04, sigma=0.5, scale=1.0)
    runs = []
    for _ in range(2):
        with running_brightdata(latency=latency, seed=7) as running:
            for _ in range(5):
                unlock(client, running, TENT)
            runs.append(running.request_log())

    delays = [[record.delay for record in records] for records in runs]
    assert delays[0] == delays[1]
    assert len(set(delays[0])) == 5
    assert all(record.duration >= record.delay for record in runs[0])


def test_latency_scale_shrinks_delays(client: httpx2.Client) -> None:
    delays = []
    for scale in (1.0, 0.1):
        with running_brightdata(latency=LognormalLatency(0.05, 0.5, scale), seed=2) as running:
            unlock(client, running, TENT)
            delays.append(running.request_log()[0].delay)

    assert delays[1] == pytest.approx(delays[0] * 0.1)


def test_status_burst_then_page(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault(TORCH, status=503, burst=2)
    try:
        statuses = [unlock(client, brightdata, TORCH).status_code for _ in range(3)]
    finally:
        brightdata.clear_faults()

    assert statuses == [503, 503, 200]


def test_injected_429_has_retry_after(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault(TORCH, status=429, retry_after="3", burst=1)
    try:
        limited = unlock(client, brightdata, TORCH)
    finally:
        brightdata.clear_faults()

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert limited.headers["x-brd-error-code"] == "sr_rate_limit"


def test_unlock_error_burst(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.set_fault("www.sample-kitchen.example", unlock_error="reject_block", burst=1)
    try:
        statuses = [unlock(client, brightdata, TORCH).status_code for _ in range(2)]
    finally:
        brightdata.clear_faults()

    assert statuses == [502, 200]


# Billing and the request log


def test_billing_counts_outer_200_only(client: httpx2.Client) -> None:
    with running_brightdata(zones=("mcp_unlocker",)) as running:
        running.set_fault(TORCH, unlock_error="reject_block")
        unlock(client, running, TENT)
        unlock(client, running, TENT)
        unlock(client, running, UNSAVED_POLES)
        unlock(client, running, TORCH)
        client.post(
            f"{running.base_url}/request", json={"zone": "mcp_unlocker", "url": TENT, "format": "raw"}
        )
        billed = running.billed_requests()
        by_target = running.billed_by_target()
        log = running.request_log()

    assert billed == 3
    assert by_target == {TENT: 2, UNSAVED_POLES: 1}
    assert [record.billed for record in log] == [True, True, True, False, False]
    assert [record.status for record in log] == [200, 200, 200, 502, 401]
    assert [record.target_status for record in log] == [200, 200, 404, None, None]


def test_log_records_request_fields(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    brightdata.clear_log()
    unlock(client, brightdata, TENT)
    record = brightdata.request_log()[0]
    logged = client.get(f"{brightdata.base_url}/_log").json()["requests"]

    assert record.path == "/request"
    assert record.zone == "mcp_unlocker"
    assert record.target_url == TENT
    assert record.status == 200
    assert record.target_status == 200
    assert record.start_monotonic <= record.end_monotonic
    assert record.start_time <= record.end_time
    assert logged == [record.to_json()]


def test_billing_endpoint_matches_counters(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    unlock(client, brightdata, TENT)
    billing = client.get(f"{brightdata.base_url}/_billing").json()

    assert billing["billed_requests"] == brightdata.billed_requests()
    assert billing["billed_records"] == brightdata.billed_records()
    assert billing["by_target"] == brightdata.billed_by_target()


# Web Scraper API: synchronous scrape


def scrape(
    client: httpx2.Client,
    running: RunningBrightData,
    body: Any,
    dataset_id: str = AMAZON_PRODUCT,
    query: str = "",
) -> httpx2.Response:
    url = f"{running.base_url}/datasets/v3/scrape?dataset_id={dataset_id}&format=json{query}"
    return client.post(url, headers=auth(running), json=body)


def test_scrape_one_input_returns_object(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.1) as running:
        response = scrape(client, running, [{"url": TENT}])
        billed = running.billed_records()

    record = response.json()
    assert response.status_code == 200
    assert record["title"] == "Ridgeline 2 Trekking Tent"
    assert record["brand"] == "Ridgeline"
    assert record["final_price"] == 129.95
    assert record["currency"] == "EUR"
    assert record["availability"] == "In Stock"
    assert record["is_available"] is True
    assert record["rating"] == 4.6
    assert record["reviews_count"] == 38
    assert record["image_url"] == "https://www.sample-outdoor.example/media/ridgeline-2-tent.jpg"
    assert record["upc"] == "4260123450014"
    assert record["model_number"] == "RL-2P-24"
    assert record["input"] == {"url": TENT}
    assert billed == 1


def test_scrape_several_inputs_returns_array(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.1) as running:
        response = scrape(client, running, {"input": [{"url": TENT}, {"url": TORCH}]}, WALMART_PRODUCT)

    records = response.json()
    assert [record["url"] for record in records] == [TENT, TORCH]
    assert records[1]["currency"] == "USD"
    assert "product_id" in records[0]
    assert "asin" not in records[0]


def test_scrape_over_20_inputs_rejected(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = scrape(client, brightdata, [{"url": TENT}] * 21)

    assert response.status_code == 400


def test_scrape_falls_back_to_202(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=1.0, sync_scrape_limit=0.2) as running:
        response = scrape(client, running, [{"url": TENT}])
        snapshot_id = response.json()["snapshot_id"]
        time.sleep(1.0)
        ready = client.get(f"{running.base_url}/datasets/v3/snapshot/{snapshot_id}", headers=auth(running))

    assert response.status_code == 202
    assert snapshot_id.startswith("sd_")
    assert response.json()["message"].startswith("Your request is still in progress")
    assert ready.status_code == 200
    assert ready.json()[0]["title"] == "Ridgeline 2 Trekking Tent"


def test_unknown_dataset_returns_404(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    response = scrape(client, brightdata, [{"url": TENT}], dataset_id="gd_not_a_dataset")

    assert response.status_code == 404
    assert response.text == "dataset does not exist"


@pytest.mark.parametrize("body", [[], [{}], [{"url": "not a url"}], {"urls": [TENT]}])
def test_invalid_inputs_rejected(brightdata: RunningBrightData, client: httpx2.Client, body: Any) -> None:
    response = scrape(client, brightdata, body)

    assert response.status_code == 400


# Web Scraper API: trigger, progress and snapshot


def trigger(
    client: httpx2.Client, running: RunningBrightData, urls: list[str], include_errors: bool = True
) -> str:
    query = "&include_errors=true" if include_errors else ""
    response = client.post(
        f"{running.base_url}/datasets/v3/trigger?dataset_id={AMAZON_PRODUCT}{query}",
        headers=auth(running),
        json=[{"url": url} for url in urls],
    )
    assert response.status_code == 200, response.text
    snapshot_id: str = response.json()["snapshot_id"]
    return snapshot_id


def progress(client: httpx2.Client, running: RunningBrightData, snapshot_id: str) -> httpx2.Response:
    return client.get(f"{running.base_url}/datasets/v3/progress/{snapshot_id}", headers=auth(running))


def download(client: httpx2.Client, running: RunningBrightData, snapshot_id: str) -> httpx2.Response:
    url = f"{running.base_url}/datasets/v3/snapshot/{snapshot_id}?format=json"
    return client.get(url, headers=auth(running))


def test_snapshot_lifecycle_to_ready(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.6) as running:
        running.set_snapshot_behaviour("ready", starting_for=0.2)
        snapshot_id = trigger(client, running, [TENT, TORCH])
        statuses = [progress(client, running, snapshot_id).json()["status"]]
        early = download(client, running, snapshot_id)
        time.sleep(0.3)
        statuses.append(progress(client, running, snapshot_id).json()["status"])
        time.sleep(0.4)
        final = progress(client, running, snapshot_id).json()
        records = download(client, running, snapshot_id)
        again = download(client, running, snapshot_id)
        billed = running.billed_records()

    assert statuses == ["starting", "running"]
    assert early.status_code == 202
    assert early.json() == {"status": "starting", "message": "Snapshot is not ready yet, try again in 10s"}
    assert final["status"] == "ready"
    assert final["records"] == 2
    assert final["dataset_id"] == AMAZON_PRODUCT
    assert [record["url"] for record in records.json()] == [TENT, TORCH]
    assert again.json() == records.json()
    assert billed == 2  # a second download of the same snapshot is not billed again


def test_snapshot_failed(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.1) as running:
        running.set_snapshot_behaviour("failed", error_message="Target site changed its layout")
        snapshot_id = trigger(client, running, [TENT])
        time.sleep(0.2)
        state = progress(client, running, snapshot_id)
        snapshot = download(client, running, snapshot_id)

    assert state.status_code == 200
    assert state.json()["status"] == "failed"
    assert state.json()["error_message"] == "Target site changed its layout"
    assert snapshot.status_code == 202
    assert snapshot.json()["status"] == "failed"


def test_snapshot_empty(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.1) as running:
        running.set_snapshot_behaviour("empty")
        snapshot_id = trigger(client, running, [TENT])
        time.sleep(0.2)
        state = progress(client, running, snapshot_id).json()
        snapshot = download(client, running, snapshot_id)

    assert state["status"] == "ready"
    assert state["records"] == 0
    assert snapshot.status_code == 400
    assert snapshot.text == "Snapshot is empty"


def test_snapshot_expired(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.1) as running:
        running.set_snapshot_behaviour("expired")
        snapshot_id = trigger(client, running, [TENT])
        time.sleep(0.2)
        snapshot = download(client, running, snapshot_id)
        billed = running.billed_records()

    assert snapshot.status_code == 400
    assert snapshot.text == "Snapshot is expired"
    assert billed == 0


def test_snapshot_never_ready(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.05) as running:
        running.set_snapshot_behaviour("never")
        snapshot_id = trigger(client, running, [TENT])
        time.sleep(0.3)
        state = progress(client, running, snapshot_id).json()
        snapshot = download(client, running, snapshot_id)

    assert state["status"] == "running"
    assert snapshot.status_code == 202
    assert snapshot.json()["status"] == "running"


def test_progress_404_right_after_trigger(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.1) as running:
        running.set_snapshot_behaviour("ready", progress_404_for=0.3)
        snapshot_id = trigger(client, running, [TENT])
        early = progress(client, running, snapshot_id)
        time.sleep(0.4)
        later = progress(client, running, snapshot_id)

    assert early.status_code == 404
    assert later.status_code == 200
    assert later.json()["status"] == "ready"


def test_unknown_snapshot_returns_404(brightdata: RunningBrightData, client: httpx2.Client) -> None:
    assert progress(client, brightdata, "sd_unknown").status_code == 404
    assert download(client, brightdata, "sd_unknown").status_code == 404


def test_error_records_with_include_errors(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.05) as running:
        with_errors = trigger(client, running, [TENT, UNSAVED_POLES, OUTDOOR_LISTING])
        without_errors = trigger(client, running, [TENT, UNSAVED_POLES], include_errors=False)
        time.sleep(0.15)
        state = progress(client, running, with_errors).json()
        records = download(client, running, with_errors).json()
        kept = download(client, running, without_errors).json()
        billed = running.billed_records()
        by_target = running.billed_by_target()

    assert state["records"] == 1
    assert state["errors"] == 2
    assert records[1]["input"] == {"url": UNSAVED_POLES}
    assert records[1]["error_code"] == "dead_page"
    assert records[1]["error"]
    assert records[2]["error_code"] == "dead_page"
    assert [record["url"] for record in kept] == [TENT]
    assert billed == 2
    assert by_target == {TENT: 2}


def test_cancel_running_snapshot(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=5.0) as running:
        snapshot_id = trigger(client, running, [TENT])
        cancel_url = f"{running.base_url}/datasets/v3/snapshot/{snapshot_id}/cancel"
        canceled = client.post(cancel_url, headers=auth(running))
        state = progress(client, running, snapshot_id).json()
        again = client.post(cancel_url, headers=auth(running))

    assert canceled.status_code == 200
    assert state["status"] == "failed"
    assert again.status_code == 400


def test_too_many_running_jobs_429(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=5.0, max_running_jobs=1) as running:
        trigger(client, running, [TENT])
        response = client.post(
            f"{running.base_url}/datasets/v3/trigger?dataset_id={AMAZON_PRODUCT}",
            headers=auth(running),
            json=[{"url": TORCH}],
        )

    assert response.status_code == 429
    assert "too many running jobs" in response.text
    assert "Running jobs: 1>=1" in response.text


def test_domain_check_rejects_other_sites(client: httpx2.Client) -> None:
    with running_brightdata(snapshot_ready_after=0.05, check_domains=True) as running:
        response = scrape(client, running, [{"url": TENT}], query="&include_errors=true")

    assert response.json()["error_code"] == "invalid_input"


def test_snapshot_ids_repeat_with_seed(client: httpx2.Client) -> None:
    ids = []
    for _ in range(2):
        with running_brightdata(seed=5) as running:
            ids.append(trigger(client, running, [TENT]))

    assert ids[0] == ids[1]


@pytest.mark.parametrize(("status", "wording"), [(429, "too many running jobs"), (503, "Injected 503")])
def test_injected_collection_failures(client: httpx2.Client, status: int, wording: str) -> None:
    with running_brightdata(snapshot_ready_after=0.05) as running:
        running.fail_next_collections(status, count=2)
        failed = [scrape(client, running, [{"url": TENT}]) for _ in range(2)]
        served = scrape(client, running, [{"url": TENT}])

    assert [response.status_code for response in failed] == [status, status]
    assert wording in failed[0].text
    assert served.status_code == 200


# The command line


def test_cli_port_zero_prints_url() -> None:
    command = [
        sys.executable,
        "-m",
        "product_extractor.sandbox",
        "brightdata",
        "--port",
        "0",
        "--latency-scale",
        "0",
        "--zone",
        "cli_unlocker",
    ]
    environment = {**os.environ, "BRIGHTDATA_API_TOKEN": "cli-test-token"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        response = httpx2.post(
            f"{base_url}/request",
            headers={"Authorization": "Bearer cli-test-token"},
            json={"zone": "cli_unlocker", "url": TENT, "format": "raw"},
            timeout=10,
        )

        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        assert response.status_code == 200
        assert response.headers["x-brd-status-code"] == "200"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)

    assert process.returncode in (0, -signal.SIGTERM)
    assert "cli-test-token" not in stderr


def test_cli_rejects_bad_rate_limit() -> None:
    command = [sys.executable, "-m", "product_extractor.sandbox", "brightdata", "--rate-limit", "fast"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "rate limit 'fast' is invalid" in result.stderr


# The saved corpus, when present


@pytest.fixture(scope="module")
def corpus_brightdata(corpus_dir: Path) -> Iterator[RunningBrightData]:
    with running_brightdata(corpus_dir, snapshot_ready_after=0.05) as running:
        yield running


@pytest.mark.corpus
def test_corpus_every_page_unchanged(corpus_brightdata: RunningBrightData, client: httpx2.Client) -> None:
    failures = []
    for page in corpus_brightdata.pages:
        response = unlock(client, corpus_brightdata, page.url)
        if response.headers.get("x-brd-status-code") != "200" or response.content != page.read_bytes():
            failures.append(page.id)

    assert failures == []


@pytest.mark.corpus
def test_corpus_cp1252_charset_kept(corpus_brightdata: RunningBrightData, client: httpx2.Client) -> None:
    pages = [page for page in corpus_brightdata.pages if page.encoding == "cp1252"]
    assert pages

    for page in pages:
        response = unlock(client, corpus_brightdata, page.url)
        assert response.headers["content-type"] == "text/html; charset=windows-1252", page.id


@pytest.mark.corpus
def test_corpus_category_pages(
    corpus_brightdata: RunningBrightData, corpus_dir: Path, client: httpx2.Client
) -> None:
    saved = load_saved_pages(corpus_dir)
    for host, site in saved.sites.items():
        if len(site.products) < 2:
            continue
        response = unlock(client, corpus_brightdata, f"https://{host}/_category")
        assert hrefs(response.text, ".product-card h2 a") == [page.url for page in site.products], host


@pytest.mark.corpus
def test_corpus_amazon_records(corpus_brightdata: RunningBrightData, client: httpx2.Client) -> None:
    pages = [page for page in corpus_brightdata.pages if page.kind == "product" and "/dp/" in page.url]
    assert pages

    for page in pages[:20]:
        record = scrape(client, corpus_brightdata, [{"url": page.url}]).json()
        asin = re.search(r"/dp/([A-Z0-9]{10})", page.url)
        assert asin is not None
        assert record["asin"] == asin.group(1), page.id
        assert record["title"] == page.labels["name"][0], page.id

"""The cost meter: totals, the cap, and reservations shared by threads and tasks."""

from __future__ import annotations

import threading

import anyio
import pytest

from product_extractor.brightdata.cost import CostCapReached, CostMeter
from product_extractor.web.fetcher import FetchError

URL = "https://shop.example/p/1"


def test_commit_counts_requests_and_records() -> None:
    meter = CostMeter()
    meter.reserve(URL, requests=1).commit()
    meter.reserve(URL, records=3).commit(records=2)

    assert meter.billed_requests == 1
    assert meter.billed_records == 2
    assert meter.estimated_cost_usd == pytest.approx(0.0015 + 0.002)
    assert meter.reserved_cost_usd == 0


def test_release_bills_nothing() -> None:
    meter = CostMeter()
    reservation = meter.reserve(URL, requests=1)
    assert meter.reserved_cost_usd == pytest.approx(0.0015)

    reservation.release()

    assert meter.billed_requests == 0
    assert meter.estimated_cost_usd == 0
    assert meter.reserved_cost_usd == 0


def test_reservation_settles_once() -> None:
    meter = CostMeter()
    reservation = meter.reserve(URL, requests=1)
    reservation.commit()
    reservation.commit()
    reservation.release()

    assert meter.billed_requests == 1


def test_cap_message_names_url_and_spend() -> None:
    meter = CostMeter(max_cost_usd=0.05, usd_per_1000_requests=15.0)  # $0.015 a request
    for _ in range(3):
        meter.reserve(URL, requests=1).commit()

    with pytest.raises(CostCapReached) as caught:
        meter.reserve("https://shop.example/p/4", requests=1)

    assert isinstance(caught.value, FetchError)
    assert str(caught.value) == (
        "stopped before https://shop.example/p/4 because the next billed request would pass "
        "max_cost_usd=0.05 (spent 0.045); raise max_cost_usd to continue"
    )
    assert caught.value.requests == 0


def test_cap_counts_calls_in_flight() -> None:
    meter = CostMeter(max_cost_usd=0.003)
    meter.reserve(URL, requests=1)
    meter.reserve(URL, requests=1)

    with pytest.raises(CostCapReached, match=r"\(spent 0, 0.003 reserved by calls in flight\)"):
        meter.reserve(URL, requests=1)


def test_zero_cap_stops_first_call() -> None:
    meter = CostMeter(max_cost_usd=0)
    with pytest.raises(CostCapReached):
        meter.reserve(URL, requests=1)


def test_released_cost_frees_the_cap() -> None:
    meter = CostMeter(max_cost_usd=0.0015)
    meter.reserve(URL, requests=1).release()
    meter.reserve(URL, requests=1).commit()

    assert meter.billed_requests == 1


def test_invalid_settings_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        CostMeter(max_cost_usd=-1)
    with pytest.raises(ValueError, match="zero or more"):
        CostMeter(usd_per_1000_requests=-1)


def test_threads_never_pass_cap() -> None:
    meter = CostMeter(max_cost_usd=0.15)  # 100 requests
    capped = 0
    lock = threading.Lock()

    def spend() -> None:
        nonlocal capped
        for _ in range(50):
            try:
                meter.reserve(URL, requests=1).commit()
            except CostCapReached:
                with lock:
                    capped += 1

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert meter.billed_requests == 100
    assert capped == 300
    assert meter.estimated_cost_usd == pytest.approx(0.15)


@pytest.mark.anyio
async def test_tasks_never_pass_cap() -> None:
    meter = CostMeter(max_cost_usd=0.0075)  # 5 requests
    billed: list[int] = []

    async def spend() -> None:
        try:
            reservation = meter.reserve(URL, requests=1)
        except CostCapReached:
            return
        await anyio.sleep(0.01)
        reservation.commit()
        billed.append(1)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(spend)

    assert len(billed) == 5
    assert meter.billed_requests == 5


def test_repr_shows_totals() -> None:
    meter = CostMeter(max_cost_usd=1)
    assert repr(meter) == (
        "CostMeter(billed_requests=0, billed_records=0, estimated_cost_usd=0.0, max_cost_usd=1)"
    )

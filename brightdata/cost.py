"""Count billed Bright Data requests and records, estimate their cost, and stop at a cost cap.

A billed call first reserves its largest possible cost, so calls in flight at
the same time cannot pass the cap together. It then commits what was billed
or releases the reservation.

>>> meter = CostMeter(max_cost_usd=0.003)
>>> reservation = meter.reserve("https://shop.example/p/1", requests=1)
>>> reservation.commit()
>>> meter.billed_requests, meter.estimated_cost_usd
(1, 0.0015)
"""

from __future__ import annotations

import threading
from decimal import Decimal

from product_extractor.brightdata.errors import CostCapReached

__all__ = ["CostCapReached", "CostMeter", "Reservation"]

# Estimates, not Bright Data's invoice: about $1.50 per 1,000 Web Unlocker requests
# (1 credit of a 5,000-credit, $7.50 pack) and $1.00 per 1,000 dataset records
# (the per-record rate of Bright Data's Python SDK). Premium domains cost more.
DEFAULT_USD_PER_1000_REQUESTS = 1.50
DEFAULT_USD_PER_1000_RECORDS = 1.00


class CostMeter:
    """Running totals of billed requests and records for one server or job, safe across threads and tasks.

    Costs are kept as `Decimal` so that many small additions stay exact.
    """

    def __init__(
        self,
        *,
        usd_per_1000_requests: float = DEFAULT_USD_PER_1000_REQUESTS,
        usd_per_1000_records: float = DEFAULT_USD_PER_1000_RECORDS,
        max_cost_usd: float | None = None,
    ) -> None:
        if usd_per_1000_requests < 0 or usd_per_1000_records < 0:
            raise ValueError("prices per 1,000 requests or records must be zero or more")
        if max_cost_usd is not None and max_cost_usd < 0:
            raise ValueError(
                f"max_cost_usd={max_cost_usd} is negative; pass zero or more, or None for no cap"
            )

        self._request_price = Decimal(str(usd_per_1000_requests)) / 1000
        self._record_price = Decimal(str(usd_per_1000_records)) / 1000
        self.max_cost_usd = max_cost_usd
        self._cap = Decimal(str(max_cost_usd)) if max_cost_usd is not None else None

        # A threading lock, not an asyncio one: no method awaits while holding it, and
        # it also protects meters shared with worker threads.
        self._lock = threading.Lock()
        self._billed_requests = 0
        self._billed_records = 0
        self._spent = Decimal(0)
        self._reserved = Decimal(0)

    def __repr__(self) -> str:
        return (
            f"CostMeter(billed_requests={self.billed_requests}, billed_records={self.billed_records}, "
            f"estimated_cost_usd={self.estimated_cost_usd}, max_cost_usd={self.max_cost_usd})"
        )

    @property
    def billed_requests(self) -> int:
        with self._lock:
            return self._billed_requests

    @property
    def billed_records(self) -> int:
        with self._lock:
            return self._billed_records

    @property
    def estimated_cost_usd(self) -> float:
        """The estimated cost of everything committed so far, in USD."""
        with self._lock:
            return float(self._spent)

    @property
    def reserved_cost_usd(self) -> float:
        """The cost held by calls in flight and by snapshots not yet downloaded, in USD."""
        with self._lock:
            return float(self._reserved)

    def cost_of(self, *, requests: int = 0, records: int = 0) -> Decimal:
        return requests * self._request_price + records * self._record_price

    def reserve(self, url: str, *, requests: int = 0, records: int = 0) -> Reservation:
        """Hold the cost of a billed call for `url`, or raise `CostCapReached` if it would pass the cap."""
        if requests < 0 or records < 0:
            raise ValueError("a reservation needs zero or more requests and records")
        cost = self.cost_of(requests=requests, records=records)

        with self._lock:
            if self._cap is not None and self._spent + self._reserved + cost > self._cap:
                raise CostCapReached(url, self._cap_message(url, requests=requests))
            self._reserved += cost

        return Reservation(self, requests=requests, records=records, cost=cost)

    def _cap_message(self, url: str, *, requests: int) -> str:
        # Called with the lock held.
        call_kind = "request" if requests else "dataset call"
        in_flight = f", {_usd(self._reserved)} reserved by calls in flight" if self._reserved else ""
        return (
            f"stopped before {url} because the next billed {call_kind} would pass "
            f"max_cost_usd={self.max_cost_usd:g} (spent {_usd(self._spent)}{in_flight}); "
            "raise max_cost_usd to continue"
        )

    def _settle(self, reservation: Reservation, *, requests: int, records: int) -> None:
        with self._lock:
            self._reserved -= reservation.cost
            self._billed_requests += requests
            self._billed_records += records
            self._spent += self.cost_of(requests=requests, records=records)


class Reservation:
    """The cost held for one billed call until it is committed or released; settles only once."""

    def __init__(self, meter: CostMeter, *, requests: int, records: int, cost: Decimal) -> None:
        self._meter = meter
        self.requests = requests
        self.records = records
        self.cost = cost
        self.settled = False

    def commit(self, *, requests: int | None = None, records: int | None = None) -> None:
        """Count what Bright Data billed: the reserved amounts unless given, and release the rest.

        A call may bill more than it reserved, such as a dataset that returns extra
        records. The committed cost can then pass the cap once, and the next
        `reserve()` raises.
        """
        if self.settled:
            return
        self.settled = True
        self._meter._settle(
            self,
            requests=self.requests if requests is None else requests,
            records=self.records if records is None else records,
        )

    def release(self) -> None:
        """Drop the reservation of a call that was not billed."""
        self.commit(requests=0, records=0)


def _usd(amount: Decimal) -> str:
    return f"{amount.normalize():f}"

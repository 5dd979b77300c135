"""The war room's dispatch series (issue 30), pure arithmetic: per minute or hour bucket,
shipments dispatched (dispatch speed), and the share of orders paid so far that shipped within
24h / 48h, as it stood at each bucket's end. The store groups rows in SQL (series_store.py).

The share at a bucket's end E counts, like GET /sla at that moment: of the orders paid before
E (the SLA's orders: no replacements, no withdrawn orders, no deposit presale awaiting its
balance), those shipped before E and no later than their deadline. An order still inside its
24 hours is not yet a miss, but neither is it a success: the share rises as orders ship. No
orders paid yet: no share (None), not 0%.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.logistics.domain import percent
from shared.time_buckets import BucketRange


@dataclass(frozen=True)
class Before:
    """Counts up to the range's start: the cumulative shares start from them."""

    paid: int = 0
    within_24h: int = 0
    within_48h: int = 0


@dataclass(frozen=True)
class PerBucket:
    """Bucket index -> count, for each of the four things counted in SQL."""

    dispatched: dict[int, int]
    paid: dict[int, int]
    within_24h: dict[int, int]
    within_48h: dict[int, int]


@dataclass(frozen=True)
class SlaPoint:
    start: datetime
    end: datetime
    dispatched: int
    paid: int
    orders_paid: int
    shipped_within_24h: int
    shipped_within_48h: int
    within_24h_pct: Decimal | None
    within_48h_pct: Decimal | None


def points(buckets: BucketRange, before: Before, counts: PerBucket) -> list[SlaPoint]:
    found = []
    paid, in_24h, in_48h = before.paid, before.within_24h, before.within_48h
    for index in buckets.indexes():
        paid += counts.paid.get(index, 0)
        in_24h += counts.within_24h.get(index, 0)
        in_48h += counts.within_48h.get(index, 0)
        found.append(SlaPoint(start=buckets.start_of(index), end=buckets.start_of(index + 1),
                              dispatched=counts.dispatched.get(index, 0), paid=counts.paid.get(index, 0),
                              orders_paid=paid, shipped_within_24h=in_24h, shipped_within_48h=in_48h,
                              within_24h_pct=percent(in_24h, paid), within_48h_pct=percent(in_48h, paid)))
    return found

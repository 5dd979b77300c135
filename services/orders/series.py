"""The war room's orders series (issue 30), pure arithmetic: per minute or hour bucket, orders,
GMV gross and net of refunds, average basket, visitors and conversion. The store groups the rows
in SQL (store/traffic.py); this puts the buckets in order and does the sums, no I/O.

- An order counts in the bucket it was paid in (`paid_at`), as /stats counts it: cancelled
  orders and deposit presales closed unpaid are left out; a deposit presale counts its deposit
  until its balance is paid.
- GMV net = paid less refunded on those orders. Average basket = GMV gross / orders (None for a
  bucket without orders).
- Visitors: the traffic windows lying wholly inside the bucket; None when none was counted.
  Conversion = orders / visitors of the same bucket (None without traffic, or 0 visitors).
- The totals count conversion over the buckets that had traffic only, so minutes without a
  traffic figure do not inflate it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.orders.traffic import conversion
from shared.money import CENT
from shared.time_buckets import BucketRange


@dataclass(frozen=True)
class Point:
    start: datetime
    orders: int
    gmv: Decimal
    gmv_net: Decimal
    average_basket: Decimal | None
    visitors: int | None
    conversion: Decimal | None


@dataclass(frozen=True)
class Totals:
    orders: int
    gmv: Decimal
    gmv_net: Decimal
    average_basket: Decimal | None
    visitors: int | None
    orders_with_traffic: int
    conversion: Decimal | None


def money(cents: int | Decimal) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def average(cents: int, orders: int) -> Decimal | None:
    return money(Decimal(cents) / orders) if orders > 0 else None


def points(buckets: BucketRange, orders: dict[int, tuple[int, int, int]], visitors: dict[int, int]) -> list[Point]:
    """One point per bucket of the range, oldest first; buckets without orders are zeros."""
    found = []
    for index in buckets.indexes():
        count, cents, refunded = orders.get(index, (0, 0, 0))
        seen = visitors.get(index)
        found.append(Point(start=buckets.start_of(index), orders=count, gmv=money(cents),
                           gmv_net=money(cents - refunded), average_basket=average(cents, count),
                           visitors=seen, conversion=conversion(count, seen)))
    return found


def totals(buckets: BucketRange, orders: dict[int, tuple[int, int, int]], visitors: dict[int, int]) -> Totals:
    inside = [orders[i] for i in buckets.indexes() if i in orders]
    count = sum(n for n, _, _ in inside)
    cents = sum(c for _, c, _ in inside)
    refunded = sum(r for _, _, r in inside)
    counted = [i for i in buckets.indexes() if i in visitors]
    seen = sum(visitors[i] for i in counted) if counted else None
    with_traffic = sum(orders.get(i, (0, 0, 0))[0] for i in counted)
    return Totals(orders=count, gmv=money(cents), gmv_net=money(cents - refunded), average_basket=average(cents, count),
                  visitors=seen, orders_with_traffic=with_traffic, conversion=conversion(with_traffic, seen))

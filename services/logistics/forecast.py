"""Capacity forecast (R18) with no I/O: will the warehouse ship 80% within 24h, and with how many pickers?

The projection replays the dispatch queue in wave order at the warehouse's throughput
(pickers x picks per hour), then the orders still expected to arrive at the rate seen so far,
each shipping after the queue ahead of it. An order counts as in time when its projected
hand-over is at or before its 24h deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.logistics.domain import WITHIN_24H, SlaOrder, percent


@dataclass(frozen=True)
class ForecastInput:
    now: datetime
    queue_deadlines: Sequence[datetime]  # 24h deadlines of unshipped orders, in dispatch order
    shipped_within_24h: int
    shipped_late: int
    arrivals_per_hour: float
    horizon_h: float
    within: timedelta = WITHIN_24H  # the deadline an arriving order gets (48h for the second target)


def from_orders(now: datetime, orders: Sequence[SlaOrder], queue_deadlines: Sequence[datetime],
                horizon_h: float) -> ForecastInput:
    """The projection's input from the orders so far (see `from_counts`)."""
    shipped = [o for o in orders if o.shipped_at is not None]
    within = sum(1 for o in shipped if o.shipped_at <= o.deadline_24h)  # type: ignore[operator]
    return from_counts(now, paid=len(orders), shipped_within_24h=within, shipped_late=len(shipped) - within,
                       first_paid=min((o.paid_at for o in orders), default=None),
                       queue_deadlines=queue_deadlines, horizon_h=horizon_h)


def from_counts(now: datetime, *, paid: int, shipped_within_24h: int, shipped_late: int,
                first_paid: datetime | None, queue_deadlines: Sequence[datetime], horizon_h: float) -> ForecastInput:
    """The projection's input from the counts so far: arrivals at the rate seen since the first
    payment (over at least an hour, or one burst would look endless)."""
    span_h = max((now - (first_paid or now)).total_seconds() / 3600, 1.0)
    return ForecastInput(now=now, queue_deadlines=queue_deadlines, shipped_within_24h=shipped_within_24h,
                         shipped_late=shipped_late, arrivals_per_hour=paid / span_h, horizon_h=horizon_h)


def expected_arrivals(arrivals_per_hour: float, horizon_h: float) -> int:
    return int(arrivals_per_hour * horizon_h)


def projected_within_24h(data: ForecastInput, orders_per_hour: float) -> tuple[int, int]:
    """(orders projected within 24h, all orders counted) at the given throughput."""
    total = data.shipped_within_24h + data.shipped_late + len(data.queue_deadlines)
    in_time = data.shipped_within_24h
    if orders_per_hour <= 0:
        # Nothing more ships: only what already did counts.
        return in_time, total + expected_arrivals(data.arrivals_per_hour, data.horizon_h)
    step = timedelta(hours=1 / orders_per_hour)
    done = data.now
    for deadline in data.queue_deadlines:
        done += step
        in_time += done <= deadline
    arrivals = expected_arrivals(data.arrivals_per_hour, data.horizon_h)
    if arrivals:
        gap = timedelta(hours=1 / data.arrivals_per_hour)
        for k in range(arrivals):
            arrived = data.now + gap * (k + 1)
            done = max(done, arrived) + step
            in_time += done <= arrived + data.within
    return in_time, total + arrivals


def projected_share(data: ForecastInput, orders_per_hour: float) -> Decimal | None:
    in_time, total = projected_within_24h(data, orders_per_hour)
    return percent(in_time, total)


def pickers_needed(data: ForecastInput, picks_per_hour: int, target_pct: int, max_pickers: int) -> int | None:
    """Fewest pickers projected to reach the target; None when even `max_pickers` cannot
    (too many orders have already missed their deadline). More pickers never ship later, so
    the projected share only grows with pickers and a binary search finds the fewest."""

    def enough(pickers: int) -> bool:
        in_time, total = projected_within_24h(data, pickers * picks_per_hour)
        return total == 0 or in_time * 100 >= target_pct * total

    if not enough(max_pickers):
        return None
    low, high = 0, max_pickers
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return 0 if enough(0) else high

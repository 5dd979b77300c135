"""Capacity forecast (R18) with no I/O: will the warehouse ship 80% within 24h, and with how many pickers?

The projection replays the dispatch queue in wave order at the warehouse's throughput
(pickers x picks per hour), then the orders still expected to arrive at the rate seen so far,
each shipping after the queue ahead of it. An order counts as in time when its projected
hand-over is at or before its 24h deadline.
"""

from __future__ import annotations

from bisect import bisect_left
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
    """(orders projected within 24h, all orders counted) at the given throughput.

    What replaying the queue and then the arrivals one order at a time gives (`replay`, kept
    for the tests), counted in whole microseconds without the replay: at a peak the queue holds
    100,000 orders and the arrivals still expected millions, and the pickers search asks ~30
    throughputs per answer."""
    total = data.shipped_within_24h + data.shipped_late + len(data.queue_deadlines)
    in_time = data.shipped_within_24h
    arrivals = expected_arrivals(data.arrivals_per_hour, data.horizon_h)
    if orders_per_hour <= 0:
        # Nothing more ships: only what already did counts.
        return in_time, total + arrivals
    step = _micros(timedelta(hours=1 / orders_per_hour))
    queued = len(data.queue_deadlines)
    in_time += queued - bisect_left(_queue_slack(data), step)
    if arrivals:
        gap = _micros(timedelta(hours=1 / data.arrivals_per_hour))
        in_time += _arrivals_in_time(arrivals, gap, step, queued * step, _micros(data.within))
    return in_time, total + arrivals


def _micros(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def _queue_slack(data: ForecastInput) -> list[int]:
    """Order k of the queue (from 1) is done `k x step` after now, in time when that is at or
    before its deadline: when `step <= slack // k` (whole microseconds). These thresholds,
    sorted, answer any throughput with one bisection. Kept on the input (it is frozen)."""
    cached = data.__dict__.get("_slack")
    if cached is None:
        cached = sorted(_micros(deadline - data.now) // k if deadline >= data.now else -1
                        for k, deadline in enumerate(data.queue_deadlines, start=1))
        object.__setattr__(data, "_slack", cached)
    return cached


def _arrivals_in_time(count: int, gap: int, step: int, backlog: int, within: int) -> int:
    """Of `count` orders arriving every `gap` after now (the first after one gap), each shipped
    `step` after the later of its arrival and the one before it, the first after the queue's
    `backlog`: how many ship within `within` of arriving. Order k (from 1) is done at
    max(backlog + k x step, arrival + step) when the pickers keep up (gap >= step), else at
    max(backlog, gap) + k x step; both are exact unrollings of the replay."""
    if gap >= step:
        if step > within:
            return 0
        late_by = backlog - within  # order k in time when k x (gap - step) >= late_by
        if late_by <= 0:
            return count
        if gap == step:
            return 0
        first = -(-late_by // (gap - step))
        return max(0, count - first + 1)
    room = within - max(backlog, gap)  # order k in time when k x (step - gap) <= room
    return max(0, min(count, room // (step - gap)))


def replay(data: ForecastInput, orders_per_hour: float) -> tuple[int, int]:
    """`projected_within_24h` one order at a time: what it means, for the tests."""
    total = data.shipped_within_24h + data.shipped_late + len(data.queue_deadlines)
    in_time = data.shipped_within_24h
    if orders_per_hour <= 0:
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

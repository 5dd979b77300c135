"""The forecast from the event's plan (R18), hour by hour, before the first order. No I/O.

Arrivals per hour come from the plan (plan.py) until orders arrive; then the hours that are over
use the orders actually paid in them (an hour with no order counts 0), the current hour the larger
of what arrived so far and the plan, and the later hours keep the plan -- multiplied by
actual/planned of the hours so far when the caller asks (`scale=True`; off by default, because
an early burst or lull says little about the rest of the event).

Dispatch is modelled per hour, first come first served: an hour ships up to its throughput
(pickers x picks per hour; in hours that are over, what actually shipped) from the oldest orders
waiting. An order counts within 24h (48h) when it ships in the 24 (48) hours starting with its
arrival hour. The timeline runs from the plan's start to 48 hours after its last hour, so the
last orders' 48h deadlines are on it too.

Stock waits (the plan's `stock_waits`, the planner's estimate): of each hour's orders, the given
shares only join the queue that many hours after they arrive (split in whole orders, the sum kept
exact); their 24h/48h clocks still start at arrival, and among the orders waiting to ship the
oldest go first. Orders whose wait runs past the end of the timeline never ship on it.

Pickers needed per hour: the fewest pickers which, from that hour on, get every hour's orders to
the target (80% of each hour's orders shipped within 24h; 95% within 48h) -- so the overall share
reaches it too. It is the smallest constant throughput that meets every later deadline, given
what is waiting and when the rest arrives (the throughput shipped by hour t from hour h is the
least of `waiting + rate x hours` over the points where the queue may run dry); worked out again
each hour as if the hours before had that many pickers.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from services.logistics.domain import percent
from services.logistics.plan import MAX_PLAN_HOURS, PlannedHour

TAIL_HOURS = 48
K = TypeVar("K", str, int)  # split's keys: region names, or hours waited
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Hour:
    start: datetime
    planned: int
    actual: int | None  # None: the hour has not started yet
    arrivals: int  # what the forecast counts: actual, planned, or the larger for the current hour
    capacity: int  # orders that can ship in the hour (actual shipped when the hour is over)
    past: bool


@dataclass(frozen=True)
class Run:
    """The dispatch model's answer per hour, and per arrival hour the orders shipped in time."""

    shipped: list[int]
    backlog: list[int]
    in_time_24h: list[int]  # per arrival hour
    in_time_48h: list[int]
    joined: list[int]  # per hour: orders joining the dispatch queue (the arrivals when none waits for stock)


@dataclass(frozen=True)
class ForecastHour:
    start: datetime
    planned: int
    actual: int | None
    backlog: int
    shipped: int
    share_24h: Decimal | None  # of the orders arrived up to this hour, % projected within 24h
    share_48h: Decimal | None
    pickers_80_24h: int | None  # None for hours that are over
    pickers_95_48h: int | None
    waiting_for_stock: int  # arrived, not yet in the dispatch queue (the plan's stock waits)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def scale_factor(planned: Sequence[PlannedHour], actual: Mapping[datetime, int], now: datetime) -> Decimal:
    """actual / planned over the plan's hours that are over (1 before any, or when none was planned)."""
    over = [h for h in planned if h.start < floor_hour(now)]
    expected = sum(h.total for h in over)
    if expected == 0:
        return Decimal(1)
    return (Decimal(sum(actual.get(h.start, 0) for h in over)) / expected).quantize(Decimal("0.0001"))


def timeline(planned: Sequence[PlannedHour], actual: Mapping[datetime, int], shipped: Mapping[datetime, int],
             now: datetime, throughput: int, scale: bool = False) -> list[Hour]:
    """The hours to forecast: the plan's, any later hour with orders or up to now, then the tail."""
    if not planned:
        return []
    first = planned[0].start
    now_hour = floor_hour(now)
    # Orders paid before the plan's start are not on it; nor is anything a month after its end
    # (a plan long over forecasts nothing; the bound keeps the answer small).
    limit = planned[-1].start + MAX_PLAN_HOURS * HOUR
    last = max([planned[-1].start, *(h for h in actual if first <= h <= limit and actual[h] > 0)])
    if last < now_hour <= limit:
        last = now_hour
    factor = scale_factor(planned, actual, now) if scale else Decimal(1)
    by_start = {h.start: h.total for h in planned}
    hours = []
    moment = first
    end = last + TAIL_HOURS * HOUR
    while moment <= end:
        plan = by_start.get(moment, 0)
        if moment < now_hour:
            got = actual.get(moment, 0)
            hours.append(Hour(moment, plan, got, got, shipped.get(moment, 0), True))
        else:
            expected = int((plan * factor).to_integral_value(ROUND_HALF_UP)) if scale else plan
            got = actual.get(moment, 0) if moment == now_hour else None
            hours.append(Hour(moment, plan, got, max(expected, got or 0), throughput, False))
        moment += HOUR
    return hours


StockWaits = Sequence[tuple[int, Decimal, int]]  # (from hour index, share %, hours waited)


def releases(arrivals: Sequence[int], waits: StockWaits) -> list[list[tuple[int, int]]]:
    """Per hour t: the (arrival hour, orders) that join the dispatch queue in t. An hour's orders
    are split over the waits that apply to it (from_hour <= its index) and no wait, in proportion
    to the shares in hundredths, whole orders, the sum exact (`split`)."""
    joining: list[list[tuple[int, int]]] = [[] for _ in arrivals]
    for a, count in enumerate(arrivals):
        if count <= 0:
            continue
        here: dict[int, int] = {}  # hours waited -> share in hundredths of a %
        for start, share, hours in waits:
            if start <= a:
                here[hours] = here.get(hours, 0) + int(share * 100)
        for wait, orders in split(count, {**here, 0: 10_000 - sum(here.values())}).items():
            t = a + wait
            if orders and t < len(arrivals):
                joining[t].append((a, orders))
    return joining


def simulate(arrivals: Sequence[int], capacity: Sequence[int], waits: StockWaits = ()) -> Run:
    """Hour by hour, the orders of an hour can ship in that hour (or, waiting for stock, in the
    hour they join the queue); the oldest arrival hour first."""
    queue: list[int] = []  # heap of arrival hours with orders waiting to ship
    left: dict[int, int] = {}  # arrival hour -> orders in the queue
    backlog = 0
    shipped_per_hour, backlog_per_hour = [], []
    in_24 = [0] * len(arrivals)
    in_48 = [0] * len(arrivals)
    joined: list[int] = []
    for t, (joining, room) in enumerate(zip(releases(arrivals, waits), capacity, strict=True)):
        joined.append(sum(orders for _, orders in joining))
        for a, orders in joining:
            if a not in left:
                heapq.heappush(queue, a)
                left[a] = 0
            left[a] += orders
            backlog += orders
        to_ship = min(max(room, 0), backlog)
        shipped = to_ship
        while to_ship > 0:
            a = queue[0]
            take = min(left[a], to_ship)
            age = t - a
            if age < 24:
                in_24[a] += take
            if age < 48:
                in_48[a] += take
            left[a] -= take
            to_ship -= take
            if left[a] == 0:
                heapq.heappop(queue)
                del left[a]
        backlog -= shipped
        shipped_per_hour.append(shipped)
        backlog_per_hour.append(backlog)
    return Run(shipped_per_hour, backlog_per_hour, in_24, in_48, joined)


def cumulative_shares(arrivals: Sequence[int], in_time: Sequence[int]) -> list[Decimal | None]:
    """Per hour: of all orders arrived up to it, the % shipping in time (one decimal, half up)."""
    shares: list[Decimal | None] = []
    arrived = done = 0
    for count, ok in zip(arrivals, in_time, strict=True):
        arrived += count
        done += ok
        shares.append(percent(done, arrived))
    return shares


def target_share(count: int, target_pct: int) -> int:
    """Orders of an hour that must ship in time: the target's share, rounded up."""
    return -(-count * target_pct // 100)


def required_by(arrivals: Sequence[int], target_pct: int, window_h: int) -> list[tuple[int, int]]:
    """(hour t, orders that must have shipped by the end of t), at each deadline that raises it:
    first come first served, hour a's target share ships only after every earlier order, so by
    its deadline (a + window - 1) all orders before it plus its share must be out."""
    points: dict[int, int] = {}
    before = 0
    for a, count in enumerate(arrivals):
        if count > 0:
            deadline = a + window_h - 1
            points[deadline] = max(points.get(deadline, 0), before + target_share(count, target_pct))
        before += count
    steps: list[tuple[int, int]] = []
    for t in sorted(points):
        if not steps or points[t] > steps[-1][1]:
            steps.append((t, points[t]))
    return steps


def _steepest(steps: Sequence[tuple[int, int]], start: int, hour: int, done: int, picks_per_hour: int) -> int:
    """Pickers to go from `done` at the start of `hour` to every later step in time (steps from
    index `start` on are the ones at or after `hour`)."""
    return max((-((done - required) // (picks_per_hour * (t - hour + 1)))
                for t, required in steps[start:] if required > done), default=0)


def pickers_needed(arrivals: Sequence[int], shipped_before: int, first: int, picks_per_hour: int,
                   target_pct: int, window_h: int) -> list[int]:
    """Pickers for each hour from `first` (the current hour) to the end, `shipped_before` orders
    having shipped before it (see the module's words)."""
    n = len(arrivals)
    steps = required_by(arrivals, target_pct, window_h)
    cumulative = [0] * (n + 1)  # cumulative[s]: orders arrived before hour s
    for i, count in enumerate(arrivals):
        cumulative[i + 1] = cumulative[i] + count
    # later[s]: pickers the orders arriving from hour s on need, whatever is done before s
    # (the queue may run dry just before s, so nothing done earlier helps them).
    later = [0] * (n + 2)
    deadlines = [t for t, _ in steps]
    for s in range(n - 1, -1, -1):
        later[s] = max(_steepest(steps, bisect_left(deadlines, s), s, cumulative[s], picks_per_hour), later[s + 1])
    answer = []
    done = shipped_before
    for h in range(first, n):
        need = max(later[h + 1], _steepest(steps, bisect_left(deadlines, h), h, done, picks_per_hour))
        answer.append(need)
        done += min(need * picks_per_hour, cumulative[h + 1] - done)
    return answer


@dataclass(frozen=True)
class Forecast:
    hours: list[ForecastHour]
    run: Run
    timeline: list[Hour]


def forecast(hours: Sequence[Hour], picks_per_hour: int, targets: tuple[int, int] = (80, 95),
             with_pickers: bool = True, waits: StockWaits = ()) -> Forecast:
    """Hour by hour: arrivals, backlog, shipped, the cumulative shares, and pickers needed (the
    costly part, O(hours x deadlines): left out, as None, when only the parcels are wanted).
    Pickers needed count an order waiting for stock from when it joins the queue: no picker
    ships goods before they arrive, so those are the pickers for the orders that can still be
    on time."""
    arrivals = [h.arrivals for h in hours]
    run = simulate(arrivals, [h.capacity for h in hours], waits)
    first = next((i for i, h in enumerate(hours) if not h.past), len(hours))
    before = sum(run.shipped[:first])
    need_24: list[int | None] = [None] * (len(hours) - first)
    need_48: list[int | None] = list(need_24)
    pickable = run.joined
    if with_pickers:
        need_24 = list(pickers_needed(pickable, before, first, picks_per_hour, targets[0], 24))
        need_48 = list(pickers_needed(pickable, before, first, picks_per_hour, targets[1], 48))
    share_24 = cumulative_shares(arrivals, run.in_time_24h)
    share_48 = cumulative_shares(arrivals, run.in_time_48h)
    rows = []
    arrived = in_queue = 0
    for i, h in enumerate(hours):
        future = i - first
        arrived += arrivals[i]
        in_queue += pickable[i]
        rows.append(ForecastHour(h.start, h.planned, h.actual, run.backlog[i], run.shipped[i], share_24[i], share_48[i],
                                 need_24[future] if future >= 0 else None,
                                 need_48[future] if future >= 0 else None, arrived - in_queue))
    return Forecast(rows, run, list(hours))


def parcels_per_day(hours: Sequence[Hour], shipped: Sequence[int], utc_offset_h: int) -> dict[date, int]:
    """Parcels handed to carriers per warehouse-local day (one parcel per order)."""
    days: dict[date, int] = {}
    for h, count in zip(hours, shipped, strict=True):
        if count:
            day = (h.start + timedelta(hours=utc_offset_h)).date()
            days[day] = days.get(day, 0) + count
    return days


def split(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    """`total` over the keys in proportion to whole weights, the sum kept exact: each key its
    floor, then the remainder one by one to the largest fractions (ties: the heavier key, then
    the key's order)."""
    whole = sum(weights.values())
    if whole <= 0 or total <= 0:
        return {k: 0 for k in weights}
    shares = {k: total * w // whole for k, w in weights.items()}
    left = total - sum(shares.values())
    order = sorted(weights, key=lambda k: (-(total * weights[k] % whole), -weights[k], k))
    for k in order[:left]:
        shares[k] += 1
    return shares


def capacity_needed(per_day: Mapping[date, int], region_weights: Mapping[str, int]) -> list[tuple[date, str, int]]:
    """(day, region, parcels) for every day and region with parcels, days then regions in order."""
    rows = []
    for day in sorted(per_day):
        for region, parcels in sorted(split(per_day[day], region_weights).items()):
            if parcels:
                rows.append((day, region, parcels))
    return rows

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

Pickers needed per hour: the fewest pickers which, from that hour on, get every hour's orders to
the target (80% of each hour's orders shipped within 24h; 95% within 48h) -- so the overall share
reaches it too. It is the smallest constant throughput that meets every later deadline, given
what is waiting and when the rest arrives (the throughput shipped by hour t from hour h is the
least of `waiting + rate x hours` over the points where the queue may run dry); worked out again
each hour as if the hours before had that many pickers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.logistics.domain import percent
from services.logistics.plan import MAX_PLAN_HOURS, PlannedHour

TAIL_HOURS = 48
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


def simulate(arrivals: Sequence[int], capacity: Sequence[int]) -> Run:
    """First come first served, hour by hour; the orders of an hour can ship in that hour."""
    waiting: deque[list[int]] = deque()  # [arrival hour, orders still waiting]
    backlog = 0
    shipped_per_hour, backlog_per_hour = [], []
    in_24 = [0] * len(arrivals)
    in_48 = [0] * len(arrivals)
    for t, (arrived, room) in enumerate(zip(arrivals, capacity, strict=True)):
        if arrived > 0:
            waiting.append([t, arrived])
            backlog += arrived
        to_ship = min(max(room, 0), backlog)
        shipped = to_ship
        while to_ship > 0:
            cohort = waiting[0]
            take = min(cohort[1], to_ship)
            age = t - cohort[0]
            if age < 24:
                in_24[cohort[0]] += take
            if age < 48:
                in_48[cohort[0]] += take
            cohort[1] -= take
            to_ship -= take
            if cohort[1] == 0:
                waiting.popleft()
        backlog -= shipped
        shipped_per_hour.append(shipped)
        backlog_per_hour.append(backlog)
    return Run(shipped_per_hour, backlog_per_hour, in_24, in_48)


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


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


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
    for s in range(n - 1, -1, -1):
        own = 0
        for t, required in steps:
            if t >= s and required > cumulative[s]:
                own = max(own, _ceil_div(required - cumulative[s], picks_per_hour * (t - s + 1)))
        later[s] = max(own, later[s + 1])
    answer = []
    done = shipped_before
    for h in range(first, n):
        need = later[h + 1]
        for t, required in steps:
            if t >= h and required > done:
                need = max(need, _ceil_div(required - done, picks_per_hour * (t - h + 1)))
        answer.append(need)
        done += min(need * picks_per_hour, cumulative[h + 1] - done)
    return answer


@dataclass(frozen=True)
class Forecast:
    hours: list[ForecastHour]
    run: Run
    timeline: list[Hour]


def forecast(hours: Sequence[Hour], picks_per_hour: int, targets: tuple[int, int] = (80, 95)) -> Forecast:
    """Hour by hour: arrivals, backlog, shipped, the cumulative shares, and pickers needed."""
    arrivals = [h.arrivals for h in hours]
    run = simulate(arrivals, [h.capacity for h in hours])
    first = next((i for i, h in enumerate(hours) if not h.past), len(hours))
    before = sum(run.shipped[:first])
    need_24 = pickers_needed(arrivals, before, first, picks_per_hour, targets[0], 24)
    need_48 = pickers_needed(arrivals, before, first, picks_per_hour, targets[1], 48)
    share_24 = cumulative_shares(arrivals, run.in_time_24h)
    share_48 = cumulative_shares(arrivals, run.in_time_48h)
    rows = []
    for i, h in enumerate(hours):
        future = i - first
        rows.append(ForecastHour(h.start, h.planned, h.actual, run.backlog[i], run.shipped[i], share_24[i], share_48[i],
                                 need_24[future] if future >= 0 else None,
                                 need_48[future] if future >= 0 else None))
    return Forecast(rows, run, list(hours))


def parcels_per_day(hours: Sequence[Hour], shipped: Sequence[int], utc_offset_h: int) -> dict[date, int]:
    """Parcels handed to carriers per warehouse-local day (one parcel per order)."""
    days: dict[date, int] = {}
    for h, count in zip(hours, shipped, strict=True):
        if count:
            day = (h.start + timedelta(hours=utc_offset_h)).date()
            days[day] = days.get(day, 0) + count
    return days


def split(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` over the keys in proportion to whole weights, the sum kept exact: each key its
    floor, then the remainder one by one to the largest fractions (ties: the heavier key, then
    the name)."""
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

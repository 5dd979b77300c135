"""Where the 24h and 48h targets are heading (R14 with R18's forecast), with no I/O: on track,
at risk or missed, and in words a shift lead acts on ("need 2 more pickers by 02:00 to reach 80%").

The share shipped so far says little at the start of a spike: every order is fresh and nothing has
shipped yet, yet nobody is late. So a gauge is judged by what can still happen:
- missed: the target can no longer be reached, because too many orders are already late (shipped
  after their deadline, or unshipped past it) -- nothing the warehouse does now changes that;
- at risk: not missed, but the capacity forecast (forecast.py) says the queue and the orders still
  expected will not ship in time with the pickers planned (the setting `default_pickers`);
- on track: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from services.logistics import forecast
from services.logistics.domain import WITHIN_48H, percent

ON_TRACK, AT_RISK, MISSED = "on_track", "at_risk", "missed"


@dataclass(frozen=True)
class Projection:
    state: str
    words: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "words": self.words}


@dataclass(frozen=True)
class Staffing:
    """The pickers planned and what one completes an hour (settings), and the search's bound."""

    pickers: int
    picks_per_hour: int
    max_pickers: int


def still_reachable(paid: int, missed: int, target_pct: int) -> bool:
    """Whether the target can still be met: the orders not (yet) late are at least the target's
    share of all paid. Exactly at the target counts as reachable."""
    return (paid - missed) * 100 >= target_pct * paid


def _pct_words(value: Decimal | None) -> str:
    return "0%" if value is None else f"{value.normalize():f}%"


def first_late_deadline(data: forecast.ForecastInput, orders_per_hour: float) -> datetime | None:
    """The earliest deadline an order of the queue misses at this throughput: more pickers help
    only if they start before it. None when every queued order ships in time."""
    if orders_per_hour <= 0:
        return min(data.queue_deadlines, default=None)
    step = timedelta(hours=1 / orders_per_hour)
    done = data.now
    late: datetime | None = None
    for deadline in data.queue_deadlines:
        done += step
        if done > deadline and (late is None or deadline < late):
            late = deadline
    return late


def project(data: forecast.ForecastInput, *, paid: int, missed: int, target_pct: int, hours: int,
            staffing: Staffing, utc_offset_h: int) -> Projection:
    """One gauge's projection. `paid`/`missed`: the SLA counts of that window (sla_counts);
    `data`: the forecast input for the same window; times in words are the warehouse's local
    time (UTC + `utc_offset_h`)."""
    if paid == 0 and not data.queue_deadlines:
        return Projection(ON_TRACK, "on track: no orders paid yet")
    if not still_reachable(paid, missed, target_pct):
        best = percent(paid - missed, paid)
        return Projection(MISSED, f"missed: {missed} of {paid} orders are past the {hours} h deadline, so at most "
                                  f"{_pct_words(best)} can make it (target {target_pct}%)")
    throughput = staffing.pickers * staffing.picks_per_hour
    in_time, total = forecast.projected_within_24h(data, throughput)
    if in_time * 100 >= target_pct * total:
        return Projection(ON_TRACK, f"on track: {_pct_words(percent(in_time, total))} projected within {hours} h "
                                    f"with {staffing.pickers} pickers (target {target_pct}%)")
    needed = forecast.pickers_needed(data, staffing.picks_per_hour, target_pct, staffing.max_pickers)
    if needed is None:
        return Projection(AT_RISK, f"at risk: even {staffing.max_pickers} pickers would not reach {target_pct}% "
                                   f"within {hours} h")
    more = needed - staffing.pickers
    late = first_late_deadline(data, throughput)
    by = "" if late is None else f" by {(late + timedelta(hours=utc_offset_h)):%H:%M}"
    return Projection(AT_RISK, f"need {more} more picker{'' if more == 1 else 's'}{by} to reach {target_pct}% "
                               f"(projected {_pct_words(percent(in_time, total))} with {staffing.pickers})")


def for_48h(data_24h: forecast.ForecastInput, shipped: int, shipped_within_48h: int) -> forecast.ForecastInput:
    """The forecast input of the 48h target from the 24h one: the same queue and arrivals, each
    deadline a day later, and what already shipped counted against 48 hours."""
    return replace(data_24h, queue_deadlines=[d + timedelta(hours=24) for d in data_24h.queue_deadlines],
                   shipped_within_24h=shipped_within_48h, shipped_late=shipped - shipped_within_48h,
                   within=WITHIN_48H)

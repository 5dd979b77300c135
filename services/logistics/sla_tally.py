"""The SLA figures from running totals instead of a pass over every shipment (R14, R24).

`GET /sla` and the console's gauges are read every few seconds by every screen during a peak;
counting 100,000 shipment rows on each read does not keep up. Instead each shipment contributes
to two small tables of totals, changed in the same transaction as the shipment:

- per priority class and hour of payment: orders paid, shipped, shipped within 24 h, within 48 h;
- per priority class and hour of hand-over: shipments dispatched.

What a shipment contributes follows from its own fields only (`contribution`), so every write
adds the difference between what it contributed before and after (`increments`). The one figure
that moves with the clock alone, orders not yet shipped whose deadline has passed, is every
unshipped order of the hours wholly before the deadline's cut plus an exact count for the one
hour the cut falls in (`summarise`).

`domain.sla_counts` and `domain.hourly_buckets` (a pass over the orders) say what the figures
mean; the tests hold these totals to them.

Several warehouses (issue 34): an order split into parts counts once in these totals, shipped
when its last part is (`order_fields` makes the order's fields of its parts'); the same totals
per warehouse (WAREHOUSE_PAID_HOUR, WAREHOUSE_SHIPPED_HOUR) count each part by its own fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from services.logistics.domain import AWAITING_BALANCE, WITHIN_24H, WITHIN_48H, SlaTargets, hour_floor, sla_figures

PAID_HOUR = "paid_hour"
SHIPPED_HOUR = "shipped_hour"
WAREHOUSE_PAID_HOUR = "warehouse_paid_hour"
WAREHOUSE_SHIPPED_HOUR = "warehouse_shipped_hour"
HOUR = timedelta(hours=1)


class Contribution(NamedTuple):
    """What one shipment adds to the totals."""

    priority_class: str
    paid_hour: datetime
    shipped_hour: datetime | None
    within_24h: bool
    within_48h: bool


class Increment(NamedTuple):
    table: str  # PAID_HOUR or SHIPPED_HOUR
    key: dict[str, Any]
    counts: dict[str, int]


def contribution(fields: Mapping[str, Any] | None) -> Contribution | None:
    """None for a shipment the SLA does not count: a replacement, a withdrawn order, a deposit
    presale still awaiting its balance (no clock runs for it yet)."""
    if (fields is None or fields.get("replacement_for_case") is not None or fields.get("withdrawn_at") is not None
            or fields["status"] == AWAITING_BALANCE):
        return None
    paid_at, shipped_at = fields["paid_at"], fields.get("shipped_at")
    return Contribution(
        fields["priority_class"], hour_floor(paid_at), None if shipped_at is None else hour_floor(shipped_at),
        shipped_at is not None and shipped_at <= paid_at + WITHIN_24H,
        shipped_at is not None and shipped_at <= paid_at + WITHIN_48H)


def order_fields(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The fields the SLA counts an order of several parts by: its parts' own, but shipped only
    when every part still counted is (at the last one's hand-over); a withdrawn part is not left
    to ship. None when no part is counted (all withdrawn, or replacements)."""
    counted = [p for p in parts if p.get("replacement_for_case") is None and p.get("withdrawn_at") is None]
    if not counted:
        return None
    shipped = [p.get("shipped_at") for p in counted]
    first = min(counted, key=lambda p: p["shipment_id"])
    return {"priority_class": first["priority_class"], "paid_at": min(p["paid_at"] for p in counted),
            "shipped_at": None if None in shipped else max(shipped),
            "status": AWAITING_BALANCE if any(p["status"] == AWAITING_BALANCE for p in counted) else first["status"],
            "replacement_for_case": None, "withdrawn_at": None}


def in_warehouse(increment: Increment, warehouse: str) -> Increment:
    """The same increment to the warehouse's totals."""
    table = WAREHOUSE_PAID_HOUR if increment.table == PAID_HOUR else WAREHOUSE_SHIPPED_HOUR
    return Increment(table, {"warehouse": warehouse, **increment.key}, increment.counts)


def increments(before: Contribution | None, after: Contribution | None) -> list[Increment]:
    """What to add to the totals when a shipment's contribution changes from `before` to `after`."""
    if before == after:
        return []
    out: list[Increment] = []
    for sign, part in ((-1, before), (1, after)):
        if part is None:
            continue
        out.append(Increment(PAID_HOUR, {"priority_class": part.priority_class, "paid_hour": part.paid_hour}, {
            "paid": sign, "shipped": sign * (part.shipped_hour is not None),
            "shipped_within_24h": sign * part.within_24h, "shipped_within_48h": sign * part.within_48h}))
        if part.shipped_hour is not None:
            out.append(Increment(SHIPPED_HOUR, {"priority_class": part.priority_class,
                                                "shipped_hour": part.shipped_hour}, {"dispatched": sign}))
    return out


@dataclass(frozen=True)
class PaidHour:
    priority_class: str
    paid_hour: datetime
    paid: int
    shipped: int
    shipped_within_24h: int
    shipped_within_48h: int


@dataclass(frozen=True)
class LateCut:
    """Where an unshipped order's deadline has passed: paid before `cut`. Orders of the hours
    before `boundary_hour` are all late; of that hour, the `boundary_late` counted exactly."""

    cut: datetime
    boundary_hour: datetime
    boundary_late: Mapping[str, int]  # per priority class


def late_cuts(now: datetime) -> tuple[datetime, datetime]:
    """Payment times before which an unshipped order has missed its 24 h / 48 h deadline
    (`now > paid_at + 24h` exactly when `paid_at < now - 24h`)."""
    return now - WITHIN_24H, now - WITHIN_48H


def summarise(hours: Iterable[PaidHour], late_24h: LateCut, late_48h: LateCut, targets: SlaTargets,
              priority_class: str | None = None) -> dict[str, Any]:
    """The figures `domain.sla_counts` gives, from the totals, for one class or (None) all."""
    paid = shipped = within_24h = within_48h = unshipped_late_24h = unshipped_late_48h = 0
    for row in hours:
        if priority_class is not None and row.priority_class != priority_class:
            continue
        paid += row.paid
        shipped += row.shipped
        within_24h += row.shipped_within_24h
        within_48h += row.shipped_within_48h
        if row.paid_hour < late_24h.boundary_hour:
            unshipped_late_24h += row.paid - row.shipped
        if row.paid_hour < late_48h.boundary_hour:
            unshipped_late_48h += row.paid - row.shipped
    unshipped_late_24h += _boundary(late_24h, priority_class)
    unshipped_late_48h += _boundary(late_48h, priority_class)
    return sla_figures(paid, shipped, within_24h, within_48h, shipped - within_24h + unshipped_late_24h,
                       shipped - within_48h + unshipped_late_48h, targets)


def _boundary(cut: LateCut, priority_class: str | None) -> int:
    if priority_class is None:
        return sum(cut.boundary_late.values())
    return cut.boundary_late.get(priority_class, 0)


def hourly_from_totals(hours: Iterable[PaidHour], dispatched: Mapping[datetime, int], now: datetime,
                       chart_hours: int) -> list[dict[str, Any]]:
    """`domain.hourly_buckets` from the totals: per hour up to now (at most `chart_hours`,
    from the first hour anything was paid), orders paid, dispatched, and paid then shipped
    within 24 h. `dispatched` is per hour of hand-over, all classes together."""
    paid_rows = [row for row in hours if row.paid]
    end = hour_floor(now)
    start = end - (chart_hours - 1) * HOUR
    if paid_rows:
        start = max(start, min(row.paid_hour for row in paid_rows))
    buckets: dict[datetime, dict[str, Any]] = {}
    moment = start
    while moment <= end:
        buckets[moment] = {"hour": moment.isoformat(), "paid": 0, "dispatched": dispatched.get(moment, 0),
                           "paid_shipped_within_24h": 0}
        moment += HOUR
    for row in paid_rows:
        bucket = buckets.get(row.paid_hour)
        if bucket is not None:
            bucket["paid"] += row.paid
            bucket["paid_shipped_within_24h"] += row.shipped_within_24h
    return list(buckets.values())


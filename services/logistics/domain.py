"""Shipment rules with no I/O: deadlines, dispatch order, the shipment's transitions, the SLA,
the reports.

R13 dispatch order, R14 the 80%-in-24h / 95%-in-48h target, R16 the warehouse steps, R17 reports.
A transition (`pack`, `hand_over`, `deliver`, ...) checks the shipment's state and returns the
columns it changes (`Changes`), or raises `StepRefused`; store.py saves them. Nothing else sets a
shipment's status.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from services.logistics.carriers import parcel_of
from shared.events import PRIORITY_CLASSES, OrderLine, order_lines_json

WITHIN_24H = timedelta(hours=24)
WITHIN_48H = timedelta(hours=48)

QUEUED = "queued"        # waiting to be picked
PICKING = "picking"      # in a picker's wave (claimed until the lease ends)
PACKED = "packed"
SHIPPED = "shipped"      # handed over to a carrier
DELIVERED = "delivered"
LOST = "lost"
WITHDRAWN = "withdrawn"  # the order was cancelled before dispatch (R4)
AWAITING_BALANCE = "awaiting_balance"  # a deposit presale's, neither queued nor timed until its balance (presale.py)

NOT_YET_SHIPPED = (QUEUED, PICKING, PACKED)


class StepRefused(ValueError):
    """A warehouse step that does not fit the shipment's state; the message says why."""


class InputRefused(ValueError):
    """A request that can never be carried out as asked (a wave too large, a delivery time in the
    future); the message says why."""


Changes = dict[str, Any]
"""Columns of a shipment a transition sets, and their new values."""


class ShipmentState(Protocol):
    """What the transitions read of a shipment (the `Shipment` row)."""

    shipment_id: str
    order_id: str
    status: str
    picker_id: str | None
    claimed_until: datetime | None
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    replacement_for_case: str | None


def shipment_id_for_order(order_id: str) -> str:
    """Derived, so a second reservation of the same order finds the shipment it queued."""
    return f"SHP-{order_id}"


def shipment_id_for_exchange(order_id: str, case_id: str) -> str:
    return f"SHP-{order_id}-X-{case_id}"


def deadlines(paid_at: datetime) -> tuple[datetime, datetime]:
    """The two SLA deadlines of an order (R14), counted from payment."""
    return paid_at + WITHIN_24H, paid_at + WITHIN_48H


def class_order(priority_class: str) -> int:
    """Presale first, then high-value, then standard (R13); an unknown class goes last."""
    try:
        return PRIORITY_CLASSES.index(priority_class)
    except ValueError:
        return len(PRIORITY_CLASSES)


def dispatch_key(priority_class: str, deadline_24h: datetime, priority_rank: str) -> tuple[int, datetime, str]:
    """Wave order: class, then the nearest 24h deadline, then the rank decided at acceptance.
    The database query that builds waves sorts by the same three columns."""
    return class_order(priority_class), deadline_24h, priority_rank


# ---------------------------------------------------------------------------------------------
# Steps


def check_can_pack(status: str, claimed_by: str | None, lease_live: bool, picker_id: str | None) -> None:
    if status in (PACKED,):
        return
    if status == PICKING and lease_live and picker_id and claimed_by and claimed_by != picker_id:
        raise StepRefused(f"in the wave of picker {claimed_by}; {picker_id} cannot pack it")
    if status not in (QUEUED, PICKING):
        raise StepRefused(f"cannot pack a shipment that is {status}")


def check_can_ship(status: str) -> None:
    if status != PACKED:
        hint = " (pack it first)" if status in (QUEUED, PICKING) else ""
        raise StepRefused(f"cannot hand over a shipment that is {status}{hint}")


def check_can_deliver(status: str) -> None:
    if status not in (SHIPPED, LOST):
        raise StepRefused(f"cannot confirm delivery of a shipment that is {status}: it was not handed over")


def check_can_report_exception(status: str, kind: str) -> None:
    if status == WITHDRAWN:
        raise StepRefused("the shipment was withdrawn; there is nothing to report on")
    if kind == "lost" and status not in (SHIPPED, LOST):
        raise StepRefused(f"only a handed-over shipment can be lost; this one is {status}")


def can_withdraw(status: str) -> bool:
    """A cancelled order's shipment is withdrawn while it has not left the warehouse (R4)."""
    return status in NOT_YET_SHIPPED or status == AWAITING_BALANCE


def new_shipment(*, shipment_id: str, order_id: str, order_type: str, priority_class: str, priority_rank: str,
                 lines: list[OrderLine], region: str, paid_at: datetime, now: datetime,
                 replacement_for_case: str | None = None, withdrawn_at: datetime | None = None,
                 withdrawal_reason: str | None = None, warehouse: str = "main", order_parts: int = 1) -> Changes:
    """The row of a shipment to queue (one part of `order_parts` of its order, from `warehouse`);
    withdrawn at once when its order was cancelled first (`withdrawn_at`: when), unless it is a
    replacement (an exchange is not undone by a cancellation of the original order)."""
    deadline_24h, deadline_48h = deadlines(paid_at)
    shape = parcel_of(region, ((line.quantity, line.weight_kg, line.volume_l) for line in lines))
    row: Changes = {
        "shipment_id": shipment_id, "order_id": order_id, "replacement_for_case": replacement_for_case,
        "order_type": order_type, "priority_class": priority_class, "class_order": class_order(priority_class),
        "priority_rank": priority_rank, "region": region, "lines_json": order_lines_json(lines),
        "weight_kg": shape.weight_kg, "volume_l": shape.volume_l, "paid_at": paid_at, "deadline_24h": deadline_24h,
        "deadline_48h": deadline_48h, "created_at": now, "status": QUEUED, "warehouse": warehouse,
        "order_parts": order_parts}
    if withdrawn_at is not None and replacement_for_case is None:
        row["status"] = WITHDRAWN
        row["withdrawn_at"] = withdrawn_at
        row["withdraw_reason"] = f"order cancelled before the reservation arrived: {withdrawal_reason}".strip(": ")
    return row


def replacement_priority(original: Any | None, requested_at: datetime, case_id: str) -> tuple[str, str, str]:
    """(order type, priority class, rank) of an exchange's replacement: the original order's
    when it shipped from here, else standard, ranked by when the exchange was asked for."""
    if original is not None:
        return original.order_type, original.priority_class, original.priority_rank
    return "standard", "standard", f"9-{requested_at.isoformat()}-{case_id}"


def withdraw(shipment: ShipmentState, *, reason: str, cancelled_at: datetime) -> Changes | None:
    """The order was cancelled: None when the shipment stays (a replacement, or already out)."""
    if shipment.replacement_for_case is not None or not can_withdraw(shipment.status):
        return None
    return {"status": WITHDRAWN, "withdrawn_at": cancelled_at, "withdraw_reason": reason or "order cancelled",
            "claimed_until": None}


def lease_end(now: datetime, lease_s: int) -> datetime:
    return now + timedelta(seconds=lease_s)


def check_wave_size(size: int, max_size: int) -> None:
    if size > max_size:
        raise InputRefused(f"size {size} is above the largest wave ({max_size})")


def wave_claim(*, wave_id: str, picker_id: str, lease_until: datetime) -> Changes:
    """What claiming a shipment for a wave sets; the store applies it only to a shipment still
    available (a conditional UPDATE), so two waves never get the same one."""
    return {"status": PICKING, "wave_id": wave_id, "picker_id": picker_id, "claimed_until": lease_until}


def effective_status(shipment: ShipmentState, now: datetime) -> str:
    """A wave whose lease ran out has given its unpacked shipments back to the queue."""
    if shipment.status == PICKING and shipment.claimed_until is not None and shipment.claimed_until < now:
        return QUEUED
    return shipment.status


def pack(shipment: ShipmentState, *, picker_id: str | None, now: datetime) -> Changes | None:
    """None when it was packed already (a repeated request)."""
    lease_live = shipment.claimed_until is not None and shipment.claimed_until >= now
    check_can_pack(shipment.status, shipment.picker_id, lease_live, picker_id)
    if shipment.status == PACKED:
        return None
    return {"status": PACKED, "packed_at": now, "packed_by": picker_id or shipment.picker_id, "claimed_until": None}


def is_repeated_hand_over(shipment: ShipmentState, carrier: str | None, tracking_number: str) -> bool:
    """The same hand-over recorded again (a rescan): nothing to do."""
    return (shipment.status in (SHIPPED, DELIVERED, LOST) and shipment.tracking_number == tracking_number
            and (carrier is None or carrier == shipment.carrier))


def check_tracking_free(shipment: ShipmentState, holder: ShipmentState | None, carrier: str,
                        tracking_number: str) -> None:
    """`holder`: the shipment that carrier's tracking number is on already, if any."""
    if holder is not None and holder.shipment_id != shipment.shipment_id:
        raise StepRefused(f"tracking number {tracking_number} of {carrier} is already on shipment "
                          f"{holder.shipment_id}")


def hand_over(shipment: ShipmentState, *, carrier: str, tracking_number: str, now: datetime) -> Changes:
    check_can_ship(shipment.status)
    return {"status": SHIPPED, "carrier": carrier, "tracking_number": tracking_number, "shipped_at": now}


def check_delivery_time(delivered_at: datetime, now: datetime) -> None:
    if delivered_at > now:
        raise InputRefused(f"delivered_at {delivered_at.isoformat()} is in the future (now {now.isoformat()})")


def check_delivered_after_hand_over(shipment: ShipmentState, delivered_at: datetime) -> None:
    """Staff's confirmation cannot predate the hand-over (a carrier's may: see `deliver`)."""
    if shipment.shipped_at is not None and delivered_at < shipment.shipped_at:
        raise InputRefused(f"delivered_at {delivered_at.isoformat()} is before the hand-over "
                           f"({shipment.shipped_at.isoformat()})")


def deliver(shipment: ShipmentState, *, delivered_at: datetime) -> Changes | None:
    """Delivery closes the shipment (R16); None when it was delivered already."""
    if shipment.status == DELIVERED:
        return None
    check_can_deliver(shipment.status)
    if shipment.shipped_at is not None:
        # A carrier's clock a little behind ours must not make delivery precede the hand-over.
        delivered_at = max(delivered_at, shipment.shipped_at)
    return {"status": DELIVERED, "delivered_at": delivered_at}


def report_exception(shipment: ShipmentState, kind: str) -> Changes:
    """A reported loss of a handed-over shipment makes it lost; other kinds change nothing."""
    check_can_report_exception(shipment.status, kind)
    return {"status": LOST} if kind == "lost" and shipment.status == SHIPPED else {}


# ---------------------------------------------------------------------------------------------
# SLA (R14)


@dataclass(frozen=True)
class SlaOrder:
    order_id: str
    shipment_id: str
    priority_class: str
    paid_at: datetime
    shipped_at: datetime | None
    status: str

    @property
    def deadline_24h(self) -> datetime:
        return self.paid_at + WITHIN_24H

    @property
    def deadline_48h(self) -> datetime:
        return self.paid_at + WITHIN_48H


@dataclass(frozen=True)
class SlaTargets:
    within_24h_pct: int = 80
    within_48h_pct: int = 95


def percent(part: int, whole: int) -> Decimal | None:
    """Percentage to one decimal place, half up; None when there is nothing to divide."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def sla_counts(orders: Iterable[SlaOrder], now: datetime, targets: SlaTargets) -> dict[str, Any]:
    """Counts and percentages for one group of orders.

    `meets_*_target` says whether the target is still being met: the orders that already missed
    the deadline (shipped late, or unshipped past it) are few enough. Once every order is
    shipped it is simply `within_*_pct >= target`.
    """
    paid = within_24h = within_48h = shipped = missed_24h = missed_48h = 0
    for o in orders:
        paid += 1
        if o.shipped_at is not None:
            shipped += 1
            if o.shipped_at <= o.deadline_24h:
                within_24h += 1
            else:
                missed_24h += 1
            if o.shipped_at <= o.deadline_48h:
                within_48h += 1
            else:
                missed_48h += 1
        else:
            missed_24h += now > o.deadline_24h
            missed_48h += now > o.deadline_48h
    return sla_figures(paid, shipped, within_24h, within_48h, missed_24h, missed_48h, targets)


def sla_figures(paid: int, shipped: int, within_24h: int, within_48h: int, missed_24h: int, missed_48h: int,
                targets: SlaTargets) -> dict[str, Any]:
    return {
        "orders_paid": paid,
        "shipped": shipped,
        "shipped_within_24h": within_24h,
        "shipped_within_48h": within_48h,
        "not_yet_shipped": paid - shipped,
        "missed_24h": missed_24h,
        "missed_48h": missed_48h,
        "within_24h_pct": percent(within_24h, paid),
        "within_48h_pct": percent(within_48h, paid),
        "meets_24h_target": paid > 0 and (paid - missed_24h) * 100 >= targets.within_24h_pct * paid,
        "meets_48h_target": paid > 0 and (paid - missed_48h) * 100 >= targets.within_48h_pct * paid,
    }


def at_risk(orders: Iterable[SlaOrder], now: datetime, horizon: timedelta) -> list[SlaOrder]:
    """Unshipped orders whose 24h deadline has not passed but falls within the horizon,
    the most urgent first."""
    found = [o for o in orders if o.shipped_at is None and now <= o.deadline_24h <= now + horizon]
    return sorted(found, key=lambda o: (o.deadline_24h, class_order(o.priority_class), o.order_id))


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hourly_buckets(orders: Sequence[SlaOrder], now: datetime, hours: int) -> list[dict[str, Any]]:
    """For a chart: per hour, orders paid, shipments dispatched, and how many of that hour's
    paid orders shipped within 24h. The last `hours` hours up to now, oldest first."""
    end = hour_floor(now)
    start = end - timedelta(hours=hours - 1)
    if orders:
        start = max(start, hour_floor(min(o.paid_at for o in orders)))
    buckets: dict[datetime, dict[str, Any]] = {}
    moment = start
    while moment <= end:
        buckets[moment] = {"hour": moment.isoformat(), "paid": 0, "dispatched": 0, "paid_shipped_within_24h": 0}
        moment += timedelta(hours=1)
    for o in orders:
        bucket = buckets.get(hour_floor(o.paid_at))
        if bucket is not None:
            bucket["paid"] += 1
            if o.shipped_at is not None and o.shipped_at <= o.deadline_24h:
                bucket["paid_shipped_within_24h"] += 1
        if o.shipped_at is not None:
            shipped_bucket = buckets.get(hour_floor(o.shipped_at))
            if shipped_bucket is not None:
                shipped_bucket["dispatched"] += 1
    return list(buckets.values())


# ---------------------------------------------------------------------------------------------
# Reports (R17)


@dataclass(frozen=True)
class ShipmentFacts:
    carrier: str | None
    paid_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    exception_kinds: frozenset[str]


def duration_stats(hours: Sequence[float]) -> dict[str, Any]:
    if not hours:
        return {"count": 0, "mean_h": None, "median_h": None, "p90_h": None, "max_h": None}
    ordered = sorted(hours)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {"count": len(ordered), "mean_h": round(statistics.fmean(ordered), 2),
            "median_h": round(statistics.median(ordered), 2), "p90_h": round(p90, 2), "max_h": round(ordered[-1], 2)}


def logistics_report(facts: Sequence[ShipmentFacts]) -> dict[str, Any]:
    """Dispatch speed (payment to hand-over), delivery time (hand-over to delivery), and the
    damage, delay and loss rates among shipments handed over; overall and per carrier."""

    def summarise(group: Sequence[ShipmentFacts]) -> dict[str, Any]:
        shipped = [f for f in group if f.shipped_at is not None]
        dispatch = [(f.shipped_at - f.paid_at).total_seconds() / 3600 for f in shipped]
        delivery = [(f.delivered_at - f.shipped_at).total_seconds() / 3600
                    for f in shipped if f.delivered_at is not None]
        rates = {f"{kind}_rate_pct": percent(sum(1 for f in shipped if kind in f.exception_kinds), len(shipped))
                 for kind in ("damaged", "delayed", "lost")}
        return {"shipped": len(shipped), "delivered": len(delivery),
                "dispatch_speed": duration_stats(dispatch), "delivery_time": duration_stats(delivery), **rates}

    carriers = sorted({f.carrier for f in facts if f.carrier})
    return {"overall": summarise(facts),
            "by_carrier": {c: summarise([f for f in facts if f.carrier == c]) for c in carriers}}

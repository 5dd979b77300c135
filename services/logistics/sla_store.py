"""Reading and keeping the SLA's running totals (sla_tally.py says what they are).

`count_change` is called by store.add_shipment and store.save_shipment, the two places a
shipment row is written (a wave's claim changes only its status between queued and picking,
which the totals do not count), so the totals change in the same transaction as the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from services.logistics import sla_tally
from services.logistics.domain import AWAITING_BALANCE, PACKED, PICKING, QUEUED, SlaOrder, hour_floor
from services.logistics.models import Shipment, SlaPaidHour, SlaShippedHour
from services.logistics.sla_tally import HOUR
from shared.deferred import defer_increment
from shared.fastsql import FastStatement

_TABLES = {sla_tally.PAID_HOUR: SlaPaidHour.__table__, sla_tally.SHIPPED_HOUR: SlaShippedHour.__table__}
CONTRIBUTING = ("priority_class", "paid_at", "shipped_at", "status", "replacement_for_case", "withdrawn_at")


def fields_of(shipment: Shipment) -> dict[str, Any]:
    return {name: getattr(shipment, name) for name in CONTRIBUTING}


def count_change(session: Session, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
    """Adds to the totals what a shipment written with `after` changes (None before: a new one)."""
    old = None if before is None else sla_tally.contribution(before)
    for increment in sla_tally.increments(old, sla_tally.contribution(after)):
        defer_increment(session, _TABLES[increment.table], increment.key, increment.counts)


def paid_hours(session: Session) -> list[sla_tally.PaidHour]:
    rows = session.exec(select(SlaPaidHour.priority_class, SlaPaidHour.paid_hour, SlaPaidHour.paid,
                               SlaPaidHour.shipped, SlaPaidHour.shipped_within_24h,
                               SlaPaidHour.shipped_within_48h)).all()
    return [sla_tally.PaidHour(*row) for row in rows]


def dispatched_per_hour(session: Session, since: datetime) -> dict[datetime, int]:
    rows = session.exec(select(SlaShippedHour.shipped_hour, func.sum(SlaShippedHour.dispatched))
                        .where(col(SlaShippedHour.shipped_hour) >= since)
                        .group_by(col(SlaShippedHour.shipped_hour))).all()
    return {hour: int(count) for hour, count in rows}


def _counted_unshipped():  # type: ignore[no-untyped-def]
    return (col(Shipment.shipped_at).is_(None), col(Shipment.replacement_for_case).is_(None),
            col(Shipment.withdrawn_at).is_(None), col(Shipment.status) != AWAITING_BALANCE)


def late_cut(session: Session, cut: datetime) -> sla_tally.LateCut:
    """Unshipped counted orders paid in the hour `cut` falls in, before `cut`, per class: an
    index range of at most one hour of payments."""
    boundary = hour_floor(cut)
    rows = session.exec(select(Shipment.priority_class, func.count())
                        .where(col(Shipment.paid_at) >= boundary, col(Shipment.paid_at) < cut,
                               *_counted_unshipped())
                        .group_by(col(Shipment.priority_class))).all()
    return sla_tally.LateCut(cut, boundary, {klass: int(count) for klass, count in rows})


def at_risk(session: Session, now: datetime, horizon: timedelta, limit: int) -> tuple[int, list[SlaOrder]]:
    """Unshipped counted orders whose 24 h deadline is between now and the horizon: how many, and
    the `limit` most urgent (the order domain.at_risk gives them in)."""
    window = (col(Shipment.deadline_24h) >= now, col(Shipment.deadline_24h) <= now + horizon, *_counted_unshipped())
    count = session.exec(select(func.count()).select_from(Shipment).where(*window)).one()
    rows = session.exec(select(Shipment.order_id, Shipment.shipment_id, Shipment.priority_class, Shipment.paid_at,
                               Shipment.shipped_at, Shipment.status)
                        .where(*window)
                        .order_by(col(Shipment.deadline_24h), col(Shipment.class_order), col(Shipment.order_id))
                        .limit(limit)).all()
    return int(count), [SlaOrder(*row) for row in rows]


def first_paid_at(session: Session, hours: list[sla_tally.PaidHour]) -> datetime | None:
    """When the first counted order was paid: found within the first hour the totals hold one."""
    first_hour = min((row.paid_hour for row in hours if row.paid), default=None)
    if first_hour is None:
        return None
    return session.exec(select(func.min(Shipment.paid_at))
                        .where(col(Shipment.paid_at) >= first_hour, col(Shipment.paid_at) < first_hour + HOUR,
                               col(Shipment.replacement_for_case).is_(None), col(Shipment.withdrawn_at).is_(None),
                               col(Shipment.status) != AWAITING_BALANCE)).one()


_SHIPMENTS = Shipment.__table__
_UNSHIPPED = (_SHIPMENTS.c.shipped_at.is_(None), _SHIPMENTS.c.replacement_for_case.is_(None),
              _SHIPMENTS.c.withdrawn_at.is_(None))
# The queued ones are nearly all of them at a peak: read from the unshipped-deadline index alone
# (models.py), through the fast path's own datetime parsing: the ORM's query (a row lookup and a
# type processor per value) made this read the slowest part of GET /sla at a peak.
_QUEUED_DEADLINES = FastStatement(select(_SHIPMENTS.c.class_order, _SHIPMENTS.c.deadline_24h)
                                  .where(*_UNSHIPPED, _SHIPMENTS.c.status == QUEUED))
_IN_WAVES_DEADLINES = FastStatement(select(_SHIPMENTS.c.class_order, _SHIPMENTS.c.deadline_24h,
                                           _SHIPMENTS.c.status, _SHIPMENTS.c.claimed_until)
                                    .where(*_UNSHIPPED, or_(_SHIPMENTS.c.status == PICKING, _SHIPMENTS.c.status == PACKED)))


def unshipped_deadlines_in_dispatch_order(session: Session, now: datetime) -> list[datetime]:
    """24h deadlines of every order not yet handed over, in the order waves would take them
    (shipments already in a wave or packed come first: they are further along). Sorting by
    (class, deadline) gives the same deadlines in the same order as the full dispatch order."""
    waiting = list(_QUEUED_DEADLINES.execute(session).all())
    in_hand = []
    for class_order, deadline, status, claimed_until in _IN_WAVES_DEADLINES.execute(session).all():
        lease_over = status == PICKING and claimed_until is not None and claimed_until < now
        (waiting if lease_over else in_hand).append((class_order, deadline))
    return [deadline for _, deadline in sorted(in_hand)] + [deadline for _, deadline in sorted(waiting)]

"""Reading and keeping the SLA's running totals (sla_tally.py says what they are).

`count_change` is called by store.add_shipment and store.save_shipment, the two places a
shipment row is written (a wave's claim changes only its status between queued and picking,
which the totals do not count), so the totals change in the same transaction as the rows.

A part of an order of several (issue 34) changes the order's totals by what the order's
contribution was before and after, read with its other parts (one indexed read by order id,
only for such parts: a whole order's shipment is its order); each part changes its warehouse's
totals by its own contribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from services.logistics import sla_tally
from services.logistics.domain import AWAITING_BALANCE, PACKED, PICKING, QUEUED, SlaOrder, hour_floor
from services.logistics.models import (Shipment, SlaPaidHour, SlaShippedHour, SlaWarehousePaidHour,
                                       SlaWarehouseShippedHour)
from services.logistics.sla_tally import HOUR
from shared.db import serialise_per_key
from shared.deferred import defer_increment
from shared.event_parts import DEFAULT_WAREHOUSE
from shared.fastsql import FastStatement, in_list_chunks

_TABLES = {sla_tally.PAID_HOUR: SlaPaidHour.__table__, sla_tally.SHIPPED_HOUR: SlaShippedHour.__table__,
           sla_tally.WAREHOUSE_PAID_HOUR: SlaWarehousePaidHour.__table__,
           sla_tally.WAREHOUSE_SHIPPED_HOUR: SlaWarehouseShippedHour.__table__}
_WAREHOUSE_TABLES = {sla_tally.PAID_HOUR: SlaWarehousePaidHour.__table__,
                     sla_tally.SHIPPED_HOUR: SlaWarehouseShippedHour.__table__}
CONTRIBUTING = ("priority_class", "paid_at", "shipped_at", "status", "replacement_for_case", "withdrawn_at")
_FIELDS = ("shipment_id", "order_id", "warehouse", "order_parts", *CONTRIBUTING)


def fields_of(shipment: Shipment) -> dict[str, Any]:
    return {name: getattr(shipment, name) for name in _FIELDS}


def count_change(session: Session, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
    """Adds to the totals what a shipment written with `after` changes (None before: a new one)."""
    old = None if before is None else sla_tally.contribution(before)
    new = sla_tally.contribution(after)
    warehouse = after.get("warehouse") or DEFAULT_WAREHOUSE
    changed = sla_tally.increments(old, new)
    if (after.get("order_parts") or 1) == 1 or after.get("replacement_for_case") is not None:
        # A whole order's shipment (and a replacement) is its own order: the same increments to
        # its warehouse's totals and the order's, with no look at other parts. (The warehouse's
        # first, as for a part of several: the commit writes the tables in the order first used.)
        for table, key, counts in changed:
            defer_increment(session, _WAREHOUSE_TABLES[table], {"warehouse": warehouse, **key}, counts)
        for table, key, counts in changed:
            defer_increment(session, _TABLES[table], key, counts)
        return
    for increment in changed:
        _add(session, sla_tally.in_warehouse(increment, warehouse))
    others = _other_parts(session, after["order_id"], after["shipment_id"])
    old = sla_tally.contribution(sla_tally.order_fields(others if before is None else [before, *others]))
    new = sla_tally.contribution(sla_tally.order_fields([after, *others]))
    for increment in sla_tally.increments(old, new):
        _add(session, increment)


def _add(session: Session, increment: sla_tally.Increment) -> None:
    defer_increment(session, _TABLES[increment.table], increment.key, increment.counts)


def serialise_order(session: Session, order_id: str) -> None:
    serialise_per_key(session, "logistics-order-parts", order_id)


def serialise_orders_of_parts(session: Session, shipment_ids: list[str]) -> None:
    """Takes the per-order turn of every order of several parts among these shipments, in order
    id order, before a hand-over of many (a collection) takes them one by one in scan order:
    two collections on two instances then never each hold an order the other waits for.
    PostgreSQL only (SQLite serialises writers already)."""
    if session.get_bind().dialect.name != "postgresql" or not shipment_ids:
        return
    orders: set[str] = set()
    for chunk in in_list_chunks(sorted(set(shipment_ids))):
        orders.update(session.exec(select(Shipment.order_id).where(col(Shipment.shipment_id).in_(chunk),
                                                                   col(Shipment.order_parts) > 1)).all())
    for order_id in sorted(orders):
        serialise_order(session, order_id)


def _other_parts(session: Session, order_id: str, shipment_id: str) -> list[dict[str, Any]]:
    """The order's other parts as written so far in this transaction (the query flushes). Two
    parts written at once (two docks handing over an order's two parts on two instances) would
    each read the other as it was and neither count the order shipped: the order's parts are
    written one transaction after the other (PostgreSQL; SQLite serialises writers already)."""
    serialise_order(session, order_id)
    columns = [getattr(Shipment, name) for name in ("shipment_id", *CONTRIBUTING)]
    rows = session.exec(select(*columns).where(col(Shipment.order_id) == order_id,
                                               col(Shipment.shipment_id) != shipment_id,
                                               col(Shipment.replacement_for_case).is_(None))).all()
    return [dict(zip(("shipment_id", *CONTRIBUTING), row, strict=True)) for row in rows]


def paid_hours(session: Session) -> list[sla_tally.PaidHour]:
    rows = session.exec(select(SlaPaidHour.priority_class, SlaPaidHour.paid_hour, SlaPaidHour.paid,
                               SlaPaidHour.shipped, SlaPaidHour.shipped_within_24h,
                               SlaPaidHour.shipped_within_48h)).all()
    return [sla_tally.PaidHour(*row) for row in rows]


def warehouse_paid_hours(session: Session, warehouse: str | None = None) -> dict[str, list[sla_tally.PaidHour]]:
    """Per warehouse (one, or every one with totals), its parts' totals."""
    table = SlaWarehousePaidHour
    query = select(table.warehouse, table.priority_class, table.paid_hour, table.paid, table.shipped,
                   table.shipped_within_24h, table.shipped_within_48h)
    if warehouse is not None:
        query = query.where(col(table.warehouse) == warehouse)
    found: dict[str, list[sla_tally.PaidHour]] = {}
    for name, *row in session.exec(query).all():
        found.setdefault(name, []).append(sla_tally.PaidHour(*row))
    return found


def dispatched_per_hour(session: Session, since: datetime, warehouse: str | None = None) -> dict[datetime, int]:
    """Orders completed per hour (None), or parts handed over at `warehouse` per hour."""
    table: Any = SlaShippedHour if warehouse is None else SlaWarehouseShippedHour
    query = (select(table.shipped_hour, func.sum(table.dispatched)).where(col(table.shipped_hour) >= since)
             .group_by(col(table.shipped_hour)))
    if warehouse is not None:
        query = query.where(col(table.warehouse) == warehouse)
    return {hour: int(count) for hour, count in session.exec(query).all()}


def _counted_unshipped():  # type: ignore[no-untyped-def]
    return (col(Shipment.shipped_at).is_(None), col(Shipment.replacement_for_case).is_(None),
            col(Shipment.withdrawn_at).is_(None), col(Shipment.status) != AWAITING_BALANCE)


def late_cut(session: Session, cut: datetime, warehouse: str | None = None) -> sla_tally.LateCut:
    """Unshipped counted orders paid in the hour `cut` falls in, before `cut`, per class: an
    index range of at most one hour of payments. An order of several unshipped parts once;
    with `warehouse`, that warehouse's unshipped parts."""
    boundary = hour_floor(cut)
    counted = func.count() if warehouse is not None else func.count(func.distinct(Shipment.order_id))
    query = (select(Shipment.priority_class, counted)
             .where(col(Shipment.paid_at) >= boundary, col(Shipment.paid_at) < cut, *_counted_unshipped())
             .group_by(col(Shipment.priority_class)))
    if warehouse is not None:
        query = query.where(col(Shipment.warehouse) == warehouse)
    return sla_tally.LateCut(cut, boundary, {klass: int(count) for klass, count in session.exec(query).all()})


def late_cuts_per_warehouse(session: Session, cut: datetime) -> dict[str, sla_tally.LateCut]:
    """`late_cut` of every warehouse with unshipped parts in that hour, in one read."""
    boundary = hour_floor(cut)
    found: dict[str, dict[str, int]] = {}
    for name, klass, count in session.exec(
            select(Shipment.warehouse, Shipment.priority_class, func.count())
            .where(col(Shipment.paid_at) >= boundary, col(Shipment.paid_at) < cut, *_counted_unshipped())
            .group_by(col(Shipment.warehouse), col(Shipment.priority_class))).all():
        found.setdefault(name, {})[klass] = int(count)
    return {name: sla_tally.LateCut(cut, boundary, counts) for name, counts in found.items()}


def at_risk(session: Session, now: datetime, horizon: timedelta, limit: int,
            warehouse: str | None = None) -> tuple[int, list[SlaOrder]]:
    """Unshipped counted orders whose 24 h deadline is between now and the horizon: how many, and
    the `limit` most urgent (the order domain.at_risk gives them in). An order of several parts
    once, with its first unshipped part; with `warehouse`, that warehouse's unshipped parts."""
    window = (col(Shipment.deadline_24h) >= now, col(Shipment.deadline_24h) <= now + horizon, *_counted_unshipped())
    columns = (Shipment.order_id, Shipment.shipment_id, Shipment.priority_class, Shipment.paid_at,
               Shipment.shipped_at, Shipment.status)
    urgency = (col(Shipment.deadline_24h), col(Shipment.class_order), col(Shipment.order_id))
    if warehouse is not None:
        window = (*window, col(Shipment.warehouse) == warehouse)
        count = session.exec(select(func.count()).select_from(Shipment).where(*window)).one()
        rows = session.exec(select(*columns).where(*window).order_by(*urgency).limit(limit)).all()
        return int(count), [SlaOrder(*row) for row in rows]
    count = session.exec(select(func.count(func.distinct(Shipment.order_id))).where(*window)).one()
    # The parts of an order share its deadline and class: grouped where the index has them together.
    orders = [row[-1] for row in session.exec(select(*urgency).where(*window).group_by(*urgency)
                                              .order_by(*urgency).limit(limit)).all()]
    first: dict[str, SlaOrder] = {}
    for chunk in in_list_chunks(orders):
        for row in session.exec(select(*columns).where(*window, col(Shipment.order_id).in_(chunk))
                                .order_by(col(Shipment.shipment_id))).all():
            first.setdefault(row[0], SlaOrder(*row))
    return int(count), [first[order_id] for order_id in orders]


def sla_orders(session: Session) -> list[SlaOrder]:
    """Every customer order counted by the SLA, as its definition reads them: replacements and
    withdrawn parts are not counted, nor an order awaiting its balance (no clock runs for it
    yet); an order of several parts is shipped at its last part's hand-over, and named by its
    first unshipped part (by id), else its first part."""
    parts: dict[str, list[SlaOrder]] = {}
    for part in sla_parts(session, with_awaiting=True):
        parts.setdefault(part.order_id, []).append(part)
    orders = []
    for found in parts.values():
        if any(p.status == AWAITING_BALANCE for p in found):
            continue
        found.sort(key=lambda p: p.shipment_id)
        unshipped = [p for p in found if p.shipped_at is None]
        named = (unshipped or found)[0]
        shipped_at = None if unshipped else max(p.shipped_at for p in found if p.shipped_at is not None)
        orders.append(SlaOrder(named.order_id, named.shipment_id, found[0].priority_class,
                               min(p.paid_at for p in found), shipped_at, named.status))
    return orders


def sla_parts(session: Session, warehouse: str | None = None, *, with_awaiting: bool = False) -> list[SlaOrder]:
    """Every counted shipment (of one warehouse): each part by its own hand-over."""
    query = (select(Shipment.order_id, Shipment.shipment_id, Shipment.priority_class, Shipment.paid_at,
                    Shipment.shipped_at, Shipment.status)
             .where(col(Shipment.replacement_for_case).is_(None), col(Shipment.withdrawn_at).is_(None)))
    if not with_awaiting:
        query = query.where(col(Shipment.status) != AWAITING_BALANCE)
    if warehouse is not None:
        query = query.where(col(Shipment.warehouse) == warehouse)
    return [SlaOrder(*row) for row in session.exec(query).all()]


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

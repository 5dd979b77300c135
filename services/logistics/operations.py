"""The commands of the logistics service, shared by the Kafka handlers and the HTTP routes.

Each runs inside the caller's transaction and publishes through the caller's outbox, so a
state change and the event announcing it commit together.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, insert
from sqlmodel import Session, select

from services.logistics import store
from services.logistics.carriers import CarrierRefused, CarrierTable, Parcel, Suggestion, parcel_of, warehouse_day
from services.logistics.domain import (
    DELIVERED,
    LOST,
    PACKED,
    PICKING,
    QUEUED,
    SHIPPED,
    WITHDRAWN,
    StepRefused,
    can_withdraw,
    check_can_deliver,
    check_can_pack,
    check_can_report_exception,
    check_can_ship,
    class_order,
    deadlines,
)
from services.logistics.models import EarlyCarrierDelivery, OrderWithdrawal, Shipment, ShipmentIncident
from shared.events import (Contract, OrderLine, ShipmentDelivered, ShipmentDispatched, ShipmentException,
                           order_lines_json)
from shared.fastsql import FastStatement, in_list_chunks
from shared.topics import LOGISTICS_SHIPMENTS, TopicSpec

Publish = Callable[[TopicSpec, str, Contract, str], object]
"""publish(spec, type, payload, key): adds an event to the outbox of the open transaction."""


@dataclass(frozen=True)
class CarrierDesk:
    """The carrier rules table and the warehouse day its capacities count in."""

    table: CarrierTable
    utc_offset_h: int

    def used_today(self, session: Session, now: datetime) -> dict[str, int]:
        return store.used_capacity(session, warehouse_day(now, self.utc_offset_h))

    def suggest(self, session: Session, shipment: Shipment, now: datetime) -> Suggestion:
        return self.table.suggest(parcel(shipment), self.used_today(session, now))


def parcel(shipment: Shipment) -> Parcel:
    return Parcel(region=shipment.region, weight_kg=shipment.weight_kg, volume_l=shipment.volume_l)


def lines_of(shipment: Shipment) -> list[dict]:
    return json.loads(shipment.lines_json)


# ---------------------------------------------------------------------------------------------
# From events


# Built once, one plain SELECT for both questions every reserved order asks (is the shipment
# there already? was the order cancelled first?): ORM loads and statements built per call were
# half of open_shipment's time at peak; two statements instead of one cost 0.5% more
# instructions an order (`make instructions`). Shipments are plain INSERTs, so a later event of
# the same batch sees them.
_SHIPMENTS, _WITHDRAWALS = Shipment.__table__, OrderWithdrawal.__table__


def _withdrawal_field(name: str) -> Any:
    return (select(_WITHDRAWALS.c[name]).where(_WITHDRAWALS.c.order_id == bindparam("oid"))
            .scalar_subquery().label(f"withdrawal_{name}"))


_SHIPMENT_OUTLOOK = FastStatement(select(
    exists(select(_SHIPMENTS.c.shipment_id).where(_SHIPMENTS.c.shipment_id == bindparam("sid"))).label("exists"),
    _withdrawal_field("cancelled_at"), _withdrawal_field("reason")))
_ADD_SHIPMENT = FastStatement(insert(_SHIPMENTS))
# The same answers for a whole consumer batch of reserved orders (see load_shipment_outlooks).
_EXISTING_SHIPMENTS = FastStatement(select(_SHIPMENTS.c.shipment_id).where(
    _SHIPMENTS.c.shipment_id.in_(bindparam("sids", expanding=True))))
_WITHDRAWALS_OF = FastStatement(select(_WITHDRAWALS.c.order_id, _WITHDRAWALS.c.cancelled_at, _WITHDRAWALS.c.reason)
                                .where(_WITHDRAWALS.c.order_id.in_(bindparam("oids", expanding=True))))


@dataclass(frozen=True)
class ShipmentOutlook:
    exists: bool
    withdrawal_cancelled_at: datetime | None = None
    withdrawal_reason: str | None = None


def load_shipment_outlooks(session: Session, orders: list[tuple[str, str]]) -> dict[str, ShipmentOutlook]:
    """For a consumer batch of reserved orders, given as (shipment id, order id): which
    shipments exist and which orders were withdrawn, in two statements for the batch instead of
    one per order (on PostgreSQL each is a round trip). `open_shipment` starts from these and
    records the shipments it adds; a withdrawal forgets them all. The consumer calls this only
    in a batch's first, savepoint-free pass, so a rolled-back event cannot leave them stale."""
    shipment_ids = sorted({sid for sid, _ in orders})
    order_ids = sorted({oid for _, oid in orders})
    existing = {row.shipment_id for chunk in in_list_chunks(shipment_ids)
                for row in _EXISTING_SHIPMENTS.execute(session, {"sids": chunk}).all()}
    withdrawn = {row.order_id: row for chunk in in_list_chunks(order_ids)
                 for row in _WITHDRAWALS_OF.execute(session, {"oids": chunk}).all()}
    outlooks: dict[str, ShipmentOutlook] = {}
    for sid, oid in orders:
        withdrawal = withdrawn.get(oid)
        outlooks[sid] = ShipmentOutlook(sid in existing, withdrawal.cancelled_at if withdrawal else None,
                                        withdrawal.reason if withdrawal else None)
    return outlooks


def open_shipment(session: Session, *, shipment_id: str, order_id: str, order_type: str, priority_class: str,
                  priority_rank: str, lines: list[OrderLine], region: str, paid_at: datetime, now: datetime,
                  replacement_for_case: str | None = None,
                  batch_outlooks: dict[str, ShipmentOutlook] | None = None) -> str | None:
    """Queue a shipment; a second request for the same shipment id changes nothing. A
    shipment for an order already cancelled is recorded as withdrawn, never queued. Returns
    the new shipment's status, or None when it existed already."""
    outlooks = batch_outlooks  # what the consumer batch read (SHIPMENT_OUTLOOKS), if it did
    outlook = outlooks.get(shipment_id) if outlooks is not None else None
    if outlook is None:  # not read for the batch (an exchange, an HTTP call, a savepoint pass)
        outlook = _SHIPMENT_OUTLOOK.execute(session, {"sid": shipment_id, "oid": order_id}).one()
    if outlook.exists:
        return None
    if outlooks is not None:  # a second event for it in this batch finds it there
        outlooks[shipment_id] = ShipmentOutlook(True)
    deadline_24h, deadline_48h = deadlines(paid_at)
    shape = parcel_of(region, ((line.quantity, line.weight_kg, line.volume_l) for line in lines))
    row: dict[str, object] = {
        "shipment_id": shipment_id, "order_id": order_id, "replacement_for_case": replacement_for_case,
        "order_type": order_type, "priority_class": priority_class, "class_order": class_order(priority_class),
        "priority_rank": priority_rank, "region": region,
        "lines_json": order_lines_json(lines),
        "weight_kg": shape.weight_kg, "volume_l": shape.volume_l, "paid_at": paid_at, "deadline_24h": deadline_24h,
        "deadline_48h": deadline_48h, "created_at": now, "status": QUEUED,
    }
    if outlook.withdrawal_cancelled_at is not None and replacement_for_case is None:  # NOT NULL in its table
        row["status"] = WITHDRAWN
        row["withdrawn_at"] = outlook.withdrawal_cancelled_at
        row["withdraw_reason"] = (f"order cancelled before the reservation arrived: {outlook.withdrawal_reason}"
                                  .strip(": "))
    # A plain INSERT at once (the next event may look the shipment up): an ORM object built and
    # flushed per reserved order was most of this handler's time at peak.
    _ADD_SHIPMENT.execute(session, row)
    return str(row["status"])


def withdraw_order(session: Session, *, order_id: str, reason: str, cancelled_at: datetime) -> list[str]:
    """The order was cancelled: withdraw its shipments still in the warehouse. Remembered, so a
    reservation arriving later does not queue it. Shipments already handed over stay as
    they are (bringing them back is aftersales' business)."""
    if session.get(OrderWithdrawal, order_id) is None:
        session.add(OrderWithdrawal(order_id=order_id, reason=reason, cancelled_at=cancelled_at))
    withdrawn = []
    for shipment in store.shipments_of_order(session, order_id):
        if shipment.replacement_for_case is None and can_withdraw(shipment.status):
            shipment.status = WITHDRAWN
            shipment.withdrawn_at = cancelled_at
            shipment.withdraw_reason = reason or "order cancelled"
            shipment.claimed_until = None
            session.add(shipment)
            withdrawn.append(shipment.shipment_id)
    return withdrawn


# ---------------------------------------------------------------------------------------------
# Warehouse steps


def effective_status(shipment: Shipment, now: datetime) -> str:
    """A wave whose lease ran out has given its unpacked shipments back to the queue."""
    if shipment.status == PICKING and shipment.claimed_until is not None and shipment.claimed_until < now:
        return QUEUED
    return shipment.status


def pack(session: Session, shipment: Shipment, *, picker_id: str | None, now: datetime) -> bool:
    """Returns False when it was already packed (a repeated request)."""
    lease_live = shipment.claimed_until is not None and shipment.claimed_until >= now
    check_can_pack(shipment.status, shipment.picker_id, lease_live, picker_id)
    if shipment.status == PACKED:
        return False
    shipment.status = PACKED
    shipment.packed_at = now
    shipment.packed_by = picker_id or shipment.picker_id
    shipment.claimed_until = None
    session.add(shipment)
    return True


def ship(session: Session, shipment: Shipment, *, carrier: str | None, tracking_number: str, now: datetime,
         desk: CarrierDesk, publish: Publish) -> bool:
    """Hand over to a carrier: the suggested one, or the one staff chose. Takes one parcel of
    the carrier's capacity for the day. Returns False for a repeat of the same hand-over."""
    if shipment.status in (SHIPPED, DELIVERED, LOST) and shipment.tracking_number == tracking_number \
            and (carrier is None or carrier == shipment.carrier):
        return False
    check_can_ship(shipment.status)
    used = desk.used_today(session, now)
    if carrier is None:
        suggestion = desk.table.suggest(parcel(shipment), used)
        if suggestion.carrier is None:
            raise CarrierRefused("no carrier can take this parcel today: "
                                 + "; ".join(reason for _, reason in suggestion.passed_over))
        carrier = suggestion.carrier
    desk.table.check_choice(carrier, parcel(shipment), used)
    other = store.by_tracking(session, carrier, tracking_number)
    if other is not None and other.shipment_id != shipment.shipment_id:
        raise StepRefused(f"tracking number {tracking_number} of {carrier} is already on shipment {other.shipment_id}")
    capacity = desk.table.carriers[carrier].daily_capacity
    if not store.take_capacity(session, carrier, warehouse_day(now, desk.utc_offset_h), capacity):
        raise CarrierRefused(f"{carrier} is full today ({capacity} parcels booked)")
    shipment.status = SHIPPED
    shipment.carrier = carrier
    shipment.tracking_number = tracking_number
    shipment.shipped_at = now
    session.add(shipment)
    publish(LOGISTICS_SHIPMENTS, "shipment.dispatched", ShipmentDispatched(
        order_id=shipment.order_id, shipment_id=shipment.shipment_id, carrier=carrier,
        tracking_number=tracking_number, dispatched_at=now, replacement_for_case=shipment.replacement_for_case,
    ), shipment.order_id)
    early = session.get(EarlyCarrierDelivery, (carrier, tracking_number))
    if early is not None:
        deliver(session, shipment, delivered_at=max(early.delivered_at, now), publish=publish)
        session.delete(early)
    return True


def deliver(session: Session, shipment: Shipment, *, delivered_at: datetime, publish: Publish) -> bool:
    """Delivery confirmation closes the shipment (R16). A repeat changes nothing."""
    if shipment.status == DELIVERED:
        return False
    check_can_deliver(shipment.status)
    if shipment.shipped_at is not None:
        # A carrier's clock a little behind ours must not make delivery precede the hand-over.
        delivered_at = max(delivered_at, shipment.shipped_at)
    shipment.status = DELIVERED
    shipment.delivered_at = delivered_at
    session.add(shipment)
    publish(LOGISTICS_SHIPMENTS, "shipment.delivered", ShipmentDelivered(
        order_id=shipment.order_id, shipment_id=shipment.shipment_id, delivered_at=delivered_at,
    ), shipment.order_id)
    return True


def carrier_delivered(session: Session, *, carrier: str, tracking_number: str, delivered_at: datetime,
                      publish: Publish) -> str:
    shipment = store.by_tracking(session, carrier, tracking_number)
    if shipment is None:
        if session.get(EarlyCarrierDelivery, (carrier, tracking_number)) is None:
            session.add(EarlyCarrierDelivery(carrier=carrier, tracking_number=tracking_number,
                                             delivered_at=delivered_at))
        return "kept until the hand-over is recorded"
    return "delivered" if deliver(session, shipment, delivered_at=delivered_at, publish=publish) else "already delivered"


def report_exception(session: Session, shipment: Shipment, *, kind: str, note: str, reported_by: str | None,
                     now: datetime, publish: Publish) -> ShipmentIncident:
    """Flag a delayed, damaged or lost shipment (R17); orders and aftersales tell the customer
    and act on it."""
    check_can_report_exception(shipment.status, kind)
    incident = ShipmentIncident(shipment_id=shipment.shipment_id, kind=kind, note=note,
                                reported_by=reported_by, reported_at=now)
    session.add(incident)
    if kind == "lost" and shipment.status == SHIPPED:
        shipment.status = LOST
        session.add(shipment)
    publish(LOGISTICS_SHIPMENTS, "shipment.exception", ShipmentException(
        order_id=shipment.order_id, shipment_id=shipment.shipment_id, kind=kind, note=note, reported_at=now,
    ), shipment.order_id)
    return incident


def lease_end(now: datetime, lease_s: int) -> datetime:
    return now + timedelta(seconds=lease_s)

"""What the logistics service does, one function per use case, for Kafka events and HTTP requests
alike: load (store.py) -> decide (domain.py, carriers.py) -> save (store.py) -> publish.

Each runs in the caller's unit of work, so a shipment's change and the event announcing it commit
together. Tolerant of order across topics: a cancellation may arrive before the reservation (kept
as a withdrawal), a carrier's delivery before the hand-over scan (kept until it is recorded).
Redelivered event ids never get here (inbox); another event asking for the same shipment changes
nothing (shipment ids are derived from the order, or the order and the case).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from services.logistics import booked_desk, domain, notifications, parts, presale, sla_store, store
from services.logistics.carriers import CarrierDesk, CarrierRefused, parcel_of_shipment
from services.logistics.models import PickWave, Shipment, ShipmentIncident
from services.logistics.schemas import (DeliveredRequest, ExceptionRequest, HandoverBatch, PackRequest, ShipRequest,
                                        WaveRequest)
from services.logistics.settings import LogisticsPolicy
from shared.events import (DEFAULT_WAREHOUSE, CarrierDelivery, ExchangeRequested, OrderBalanceReceived,
                           OrderCancelled, OrderLine, ShipmentDelivered, ShipmentDispatched, ShipmentException,
                           StockReserved)
from shared.http_problems import Problem
from shared.notification_events import CustomerNotificationRequested
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class Step(NamedTuple):
    """A warehouse step's shipment, and whether the step changed it (False: a repeat)."""

    shipment: Shipment
    changed: bool


@dataclass(frozen=True)
class ClaimedWave:
    wave_id: str
    picker_id: str
    lease_until: datetime
    shipments: list[Shipment]
    warehouse: str = DEFAULT_WAREHOUSE


@dataclass(frozen=True)
class Collection:
    """A carrier's collection: what was handed over, and what was refused with the reason."""

    shipped: list[Shipment]
    refused: list[tuple[str, str]]


# ---------------------------------------------------------------------------------------------
# From events


def queue_reserved_order(uow: UnitOfWork, event: StockReserved) -> str | None:
    """stock.reserved: queue one shipment per part of the order, from its warehouse (no parts:
    the whole order from `main`); each recorded withdrawn if the order was cancelled first; a
    deposit presale's awaits its balance, unless the balance came first. Returns the status of
    the first one opened, or None when all were queued already. Parts that do not hold exactly
    the order's lines are dead-lettered with the reason, and nothing is opened."""
    try:
        cut = parts.cut(event.order_id, event.lines, event.parts)
    except parts.PartsRefused as exc:
        uow.dead_letter(f"order {event.order_id}: {exc}")
        return None
    batch_read = uow.batch.read(store.SHIPMENT_OUTLOOKS)
    queued = store.order_shipment_ids(uow.session, event.order_id, cut[0].shipment_id, batch_read)
    if queued and queued != {part.shipment_id for part in cut}:
        # Inventory decides an order once: a second reservation with other parts (a faulty or
        # hostile sender) would ship its goods twice. The first stands.
        uow.dead_letter(f"order {event.order_id} is already queued as {', '.join(sorted(queued))}; "
                        "a reservation with other parts is refused")
        return None
    first = None
    for part in cut:
        status = _open_shipment(
            uow, shipment_id=part.shipment_id, order_id=event.order_id, order_type=event.order_type,
            priority_class=event.priority_class, priority_rank=event.priority_rank, lines=part.lines,
            region=event.region, paid_at=event.paid_at, batch_read=batch_read,
            awaiting_balance=event.awaiting_balance, warehouse=part.warehouse, order_parts=len(cut))
        first = status if first is None else first
    return first


def queue_replacement(uow: UnitOfWork, event: ExchangeRequested) -> str | None:
    """exchange.requested: a replacement ships like an order; its clock starts when the exchange
    was asked for, with the original order's priority when that order shipped from here."""
    original = next((s for s in store.shipments_of_order(uow.session, event.order_id)
                     if s.replacement_for_case is None), None)
    order_type, priority_class, rank = domain.replacement_priority(original, event.requested_at, event.case_id)
    return _open_shipment(
        uow, shipment_id=domain.shipment_id_for_exchange(event.order_id, event.case_id), order_id=event.order_id,
        order_type=order_type, priority_class=priority_class, priority_rank=rank, lines=event.lines,
        region=event.region, paid_at=event.requested_at, replacement_for_case=event.case_id, batch_read=None)


def _open_shipment(uow: UnitOfWork, *, shipment_id: str, order_id: str, order_type: str, priority_class: str,
                   priority_rank: str, lines: list[OrderLine], region: str, paid_at: datetime,
                   batch_read: dict[str, store.ShipmentOutlook] | None,
                   replacement_for_case: str | None = None, awaiting_balance: bool = False,
                   warehouse: str = DEFAULT_WAREHOUSE, order_parts: int = 1) -> str | None:
    session = uow.session
    outlook = store.shipment_outlook(session, shipment_id, order_id, batch_read)
    if outlook.exists:
        return None
    row = domain.new_shipment(
        shipment_id=shipment_id, order_id=order_id, order_type=order_type, priority_class=priority_class,
        priority_rank=priority_rank, lines=lines, region=region, paid_at=paid_at, now=uow.now,
        replacement_for_case=replacement_for_case, withdrawn_at=outlook.withdrawal_cancelled_at,
        withdrawal_reason=outlook.withdrawal_reason, warehouse=warehouse, order_parts=order_parts)
    if awaiting_balance:
        store.serialise_balance_and_reservation(session, order_id)
        row = presale.open_awaiting(row, store.kept_balance(session, order_id))
    store.add_shipment(session, row, batch_read)
    return row["status"]


def withdraw_cancelled_order(uow: UnitOfWork, event: OrderCancelled) -> list[str]:
    """order.cancelled: withdraw the order's shipments still in the warehouse, and remember the
    cancellation so a reservation arriving later does not queue it. Shipments handed over stay
    as they are (bringing them back is aftersales' business). Returns the ids withdrawn."""
    session = uow.session
    cancelled_at = event.cancelled_at or uow.now
    store.remember_withdrawal(session, event.order_id, event.reason, cancelled_at)
    uow.batch.forget(store.SHIPMENT_OUTLOOKS)  # read before this withdrawal
    withdrawn = []
    for shipment in store.shipments_of_order(session, event.order_id):
        changes = domain.withdraw(shipment, reason=event.reason, cancelled_at=cancelled_at)
        if changes is not None:
            store.save_shipment(session, shipment, changes)
            withdrawn.append(shipment.shipment_id)
    if withdrawn:
        log.info("order %s cancelled: withdrew %s", event.order_id, ", ".join(withdrawn))
    return withdrawn


def apply_balance(uow: UnitOfWork, event: OrderBalanceReceived) -> str:
    """order.balance_received: a deposit presale's shipment awaiting its balance enters the
    queue, its clock starting at the balance's payment (presale.py). The first balance is kept,
    so a stock.reserved arriving after it opens the shipment queued. A repeat changes nothing; a
    second balance with other content, or a rank outside the presale class (the shipment keeps
    its reservation's), is dead-lettered with the reason."""
    session = uow.session
    store.serialise_balance_and_reservation(session, event.order_id)
    received = presale.Balance(event.balance_paid_at, event.priority_rank)
    kept = store.kept_balance(session, event.order_id)
    if kept is not None:
        if not presale.is_same_balance(kept, received):
            uow.dead_letter(f"order {event.order_id}: a balance paid at {kept.balance_paid_at.isoformat()} "
                            f"(rank {kept.priority_rank}) was received already; this one differs and is ignored")
        return "duplicate"
    store.keep_balance(session, event.order_id, received, event.received_at)
    refusal = presale.rank_refusal(received.priority_rank)
    if refusal is not None:
        uow.dead_letter(f"order {event.order_id}: {refusal}")
    # Every part of the order enters its warehouse's queue (issue 34).
    order_parts = [s for s in store.shipments_of_order(session, event.order_id) if s.replacement_for_case is None]
    if not order_parts:
        return "kept until the reservation arrives"
    queued = 0
    for shipment in order_parts:
        changes = presale.receive_balance(shipment.status, shipment.priority_rank, received)
        if changes is not None:
            store.save_shipment(session, shipment, changes)
            queued += 1
    if not queued:
        return f"kept; the shipment is {order_parts[0].status}"
    log.info("order %s balance paid at %s: %d shipment(s) queued", event.order_id,
             event.balance_paid_at.isoformat(), queued)
    return "queued"


def apply_carrier_delivery(uow: UnitOfWork, event: CarrierDelivery) -> str:
    """carrier.delivery: the shipment with that tracking number is delivered; a confirmation
    before the hand-over scan is kept until the scan is recorded."""
    shipment = store.by_tracking(uow.session, event.carrier, event.tracking_number)
    if shipment is None:
        store.keep_early_delivery(uow.session, event.carrier, event.tracking_number, event.delivered_at)
        outcome = "kept until the hand-over is recorded"
    else:
        outcome = "delivered" if _deliver(uow, shipment, event.delivered_at) else "already delivered"
    log.debug("carrier.delivery %s %s: %s", event.carrier, event.tracking_number, outcome)
    return outcome


# ---------------------------------------------------------------------------------------------
# Warehouse steps (HTTP)


def request_wave(uow: UnitOfWork, request: WaveRequest, policy: LogisticsPolicy) -> ClaimedWave:
    """The next pick wave: the highest-priority shipments nobody holds, claimed for this picker
    until the lease ends."""
    domain.check_wave_size(request.size, policy.settings.max_wave_size)
    now = uow.now
    lease_until = domain.lease_end(now, policy.settings.wave_lease_s)
    wave_id = f"W-{uuid.uuid4().hex[:12]}"
    claimed = store.claim_wave(uow.session, wave_id=wave_id, picker_id=request.picker_id, size=request.size,
                               now=now, lease_until=lease_until, warehouse=request.warehouse)
    store.add_wave(uow.session, PickWave(wave_id=wave_id, picker_id=request.picker_id, requested_size=request.size,
                                         claimed=len(claimed), created_at=now, lease_until=lease_until,
                                         warehouse=request.warehouse))
    return ClaimedWave(wave_id, request.picker_id, lease_until, store.shipments(uow.session, claimed),
                       request.warehouse)


def pack(uow: UnitOfWork, shipment_id: str, request: PackRequest | None) -> Step:
    shipment = _existing(uow, shipment_id)
    changes = domain.pack(shipment, picker_id=request.picker_id if request else None, now=uow.now)
    if changes is None:
        return Step(shipment, False)
    store.save_shipment(uow.session, shipment, changes)
    return Step(shipment, True)


def ship(uow: UnitOfWork, shipment_id: str, request: ShipRequest, policy: LogisticsPolicy) -> Step:
    """Hand-over to a carrier with its tracking number; publishes shipment.dispatched."""
    shipment = _existing(uow, shipment_id)
    return Step(shipment, _hand_over(uow, shipment, request.carrier, request.tracking_number, policy.desk))


def ship_collection(uow: UnitOfWork, request: HandoverBatch, policy: LogisticsPolicy) -> Collection:
    """A carrier collection scanned at the dock: each parcel is handed over or refused with its
    reason; one refusal does not hold back the truck."""
    shipped: list[Shipment] = []
    refused: list[tuple[str, str]] = []
    # The orders of several parts, serialised per order by the SLA's totals, are taken in one
    # order on every instance before any hand-over: two collections never wait for each other.
    sla_store.serialise_orders_of_parts(uow.session, [p.shipment_id for p in request.parcels])
    for parcel in request.parcels:
        shipment = store.shipment(uow.session, parcel.shipment_id)
        if shipment is None:
            refused.append((parcel.shipment_id, "no such shipment"))
            continue
        try:
            _hand_over(uow, shipment, parcel.carrier or request.carrier, parcel.tracking_number, policy.desk)
        except (domain.StepRefused, CarrierRefused) as exc:
            refused.append((parcel.shipment_id, str(exc)))
            continue
        shipped.append(shipment)
    return Collection(shipped, refused)


def _hand_over(uow: UnitOfWork, shipment: Shipment, carrier: str | None, tracking_number: str,
               desk: CarrierDesk) -> bool:
    """The suggested carrier, or the one staff chose; takes one parcel of the carrier's capacity
    for the day. False for a repeat of the same hand-over."""
    if domain.is_repeated_hand_over(shipment, carrier, tracking_number):
        return False
    session, now = uow.session, uow.now
    domain.check_can_ship(shipment.status)
    day = desk.day(now)
    table = booked_desk.table_on(session, desk, now)  # a day's confirmed bookings replace the file's capacity
    chosen = table.choose(parcel_of_shipment(shipment), store.used_capacity(session, day), carrier)
    domain.check_tracking_free(shipment, store.by_tracking(session, chosen, tracking_number), chosen, tracking_number)
    capacity = table.carriers[chosen].daily_capacity
    if not store.take_capacity(session, chosen, day, capacity):
        raise CarrierRefused(f"{chosen} is full today ({capacity} parcels booked)")
    store.save_shipment(session, shipment, domain.hand_over(shipment, carrier=chosen,
                                                            tracking_number=tracking_number, now=now))
    split = shipment.order_parts > 1 and shipment.replacement_for_case is None
    uow.publish(ShipmentDispatched(
        order_id=shipment.order_id, shipment_id=shipment.shipment_id, carrier=chosen,
        tracking_number=tracking_number, dispatched_at=now, replacement_for_case=shipment.replacement_for_case,
        warehouse=shipment.warehouse,
        lines=parts.part_contents(shipment_lines(shipment)) if split else [],
        # The order ships with its last part: none of the others left in a warehouse.
        order_complete=not split or not store.parts_still_to_ship(session, shipment.order_id, shipment.shipment_id),
    ), key=shipment.order_id)
    early = store.early_delivery(session, chosen, tracking_number)
    if early is not None:
        _deliver(uow, shipment, max(early.delivered_at, now))
        store.forget_early_delivery(session, early)
    return True


def confirm_delivery(uow: UnitOfWork, shipment_id: str, request: DeliveredRequest | None) -> Step:
    """Delivery confirmed by staff (not in the future, not before the hand-over); publishes
    shipment.delivered."""
    at = request.delivered_at if request and request.delivered_at else uow.now
    domain.check_delivery_time(at, uow.now)
    shipment = _existing(uow, shipment_id)
    domain.check_delivered_after_hand_over(shipment, at)
    return Step(shipment, _deliver(uow, shipment, at))


def _deliver(uow: UnitOfWork, shipment: Shipment, delivered_at: datetime) -> bool:
    changes = domain.deliver(shipment, delivered_at=delivered_at)
    if changes is None:
        return False
    store.save_shipment(uow.session, shipment, changes)
    uow.publish(ShipmentDelivered(order_id=shipment.order_id, shipment_id=shipment.shipment_id,
                                  delivered_at=changes["delivered_at"]), key=shipment.order_id)
    return True


def report_exception(uow: UnitOfWork, shipment_id: str, request: ExceptionRequest) -> Shipment:
    """A delayed, damaged or lost shipment (R17); publishes shipment.exception, on which orders
    and aftersales tell the customer and act."""
    shipment = _existing(uow, shipment_id)
    changes = domain.report_exception(shipment, request.kind)
    incident = ShipmentIncident(shipment_id=shipment.shipment_id, kind=request.kind, note=request.note,
                                reported_by=request.reported_by, reported_at=uow.now)
    store.add_incident(uow.session, incident)
    if changes:
        store.save_shipment(uow.session, shipment, changes)
    uow.publish(ShipmentException(order_id=shipment.order_id, shipment_id=shipment.shipment_id, kind=request.kind,
                                  note=request.note, reported_at=uow.now), key=shipment.order_id)
    # The customer is told through the platform's messaging; the incident keeps the event's id
    # so the shipment's detail can say whether that message has left the outbox.
    reason, message = notifications.customer_message(request.kind, shipment.order_id)
    incident.notification_event_id = uow.publish(CustomerNotificationRequested(
        order_id=shipment.order_id, shipment_id=shipment.shipment_id, reason=reason, message=message,
        note=request.note, requested_at=uow.now), key=shipment.order_id)
    return shipment


def shipment_lines(shipment: Shipment) -> list[OrderLine]:
    return [OrderLine.model_validate(line) for line in json.loads(shipment.lines_json)]


def _existing(uow: UnitOfWork, shipment_id: str) -> Shipment:
    shipment = store.shipment(uow.session, shipment_id)
    if shipment is None:
        raise Problem(404, "not-found", f"no shipment {shipment_id}")
    return shipment

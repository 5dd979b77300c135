"""Every read and write of the logistics tables, by name: the use cases and views say what they
need, this module how the database gives it (hot statements prepared once, the batch read of a
consumer batch, the database-side claiming of pick waves, conditional updates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.logistics.domain import (AWAITING_BALANCE, NOT_YET_SHIPPED, PICKING, PRIORITY_CLASSES, QUEUED,
                                      ShipmentFacts, wave_claim)
from services.logistics.models import (CarrierDayLoad, EarlyCarrierDelivery, OrderBalance, OrderWithdrawal, PickWave,
                                       Shipment, ShipmentIncident)
from services.logistics import sla_store
from services.logistics.parts import shipment_ids_of
from services.logistics.presale import Balance
from shared.db import serialise_per_key
from shared.events import DEFAULT_WAREHOUSE, StockReserved
from shared.fastsql import FastStatement, in_list_chunks
from shared.messaging.tables import OutboxMessage
from shared.unit_of_work import Prefetch

DISPATCH_ORDER = (col(Shipment.class_order), col(Shipment.deadline_24h), col(Shipment.priority_rank))
"""The database's version of domain.dispatch_key: class, nearest 24h deadline, rank."""

STILL_TO_SHIP = (*NOT_YET_SHIPPED, AWAITING_BALANCE)

QUEUE_KEY = (*DISPATCH_ORDER, col(Shipment.shipment_id))
"""DISPATCH_ORDER made unique by the id: the sort key a page of the queue continues after."""

# ---------------------------------------------------------------------------------------------
# Queuing shipments (the Kafka path: every reserved order passes here)

# Built once, one plain SELECT for both questions every reserved order asks (is the shipment
# there already? was the order cancelled first?): ORM loads and statements built per call were
# half of open_shipment's time at peak; two statements instead of one cost 0.5% more
# instructions an order (`make instructions`). Shipments are plain INSERTs, so a later event of
# the same batch sees them.
_SHIPMENTS, _WITHDRAWALS = Shipment.__table__, OrderWithdrawal.__table__


def _withdrawal_field(name: str) -> Any:
    return (select(_WITHDRAWALS.c[name]).where(_WITHDRAWALS.c.order_id == bindparam("oid"))
            .scalar_subquery().label(f"withdrawal_{name}"))


SHIPMENT_OUTLOOK = FastStatement(select(
    exists(select(_SHIPMENTS.c.shipment_id).where(_SHIPMENTS.c.shipment_id == bindparam("sid"))).label("exists"),
    _withdrawal_field("cancelled_at"), _withdrawal_field("reason")))
_ADD_SHIPMENT = FastStatement(insert(_SHIPMENTS))
# The same answers for a whole consumer batch of reserved orders (see SHIPMENT_OUTLOOKS).
# An order's own shipments (not exchanges'), found by order id: which of a reservation's
# shipments exist, and whether the order was queued before with other parts.
_ORDERS_SHIPMENTS = FastStatement(select(_SHIPMENTS.c.shipment_id, _SHIPMENTS.c.order_id).where(
    _SHIPMENTS.c.order_id.in_(bindparam("oids", expanding=True)), _SHIPMENTS.c.replacement_for_case.is_(None)))
_ORDER_SHIPMENTS = FastStatement(select(_SHIPMENTS.c.shipment_id).where(
    _SHIPMENTS.c.order_id == bindparam("oid"), _SHIPMENTS.c.replacement_for_case.is_(None)))
_WITHDRAWALS_OF = FastStatement(select(_WITHDRAWALS.c.order_id, _WITHDRAWALS.c.cancelled_at, _WITHDRAWALS.c.reason)
                                .where(_WITHDRAWALS.c.order_id.in_(bindparam("oids", expanding=True))))


@dataclass(frozen=True)
class ShipmentOutlook:
    exists: bool
    withdrawal_cancelled_at: datetime | None = None
    withdrawal_reason: str | None = None
    # The order's own shipments as the batch knows them: one set shared by the outlooks of the
    # order's shipments, so a shipment added in the batch is seen by the order's next event.
    order_shipments: set[str] | None = None


def load_shipment_outlooks(session: Session, orders: list[tuple[str, str]]) -> dict[str, ShipmentOutlook]:
    """For a consumer batch of reserved orders, given as (shipment id, order id): which
    shipments exist and which orders were withdrawn, in two statements for the batch instead of
    one per order (on PostgreSQL each is a round trip)."""
    order_ids = sorted({oid for _, oid in orders})
    of_order: dict[str, set[str]] = {oid: set() for oid in order_ids}
    for chunk in in_list_chunks(order_ids):
        for row in _ORDERS_SHIPMENTS.execute(session, {"oids": chunk}).all():
            of_order[row.order_id].add(row.shipment_id)
    withdrawn = {row.order_id: row for chunk in in_list_chunks(order_ids)
                 for row in _WITHDRAWALS_OF.execute(session, {"oids": chunk}).all()}
    outlooks: dict[str, ShipmentOutlook] = {}
    for sid, oid in orders:
        withdrawal = withdrawn.get(oid)
        outlooks[sid] = ShipmentOutlook(sid in of_order[oid], withdrawal.cancelled_at if withdrawal else None,
                                        withdrawal.reason if withdrawal else None, of_order[oid])
    return outlooks


def _outlooks_of_reserved_orders(session: Session, events: Sequence[StockReserved]) -> dict[str, ShipmentOutlook]:
    return load_shipment_outlooks(session, [(sid, e.order_id) for e in events
                                            for sid in shipment_ids_of(e.order_id, e.parts)])


SHIPMENT_OUTLOOKS: Prefetch[str, ShipmentOutlook] = Prefetch("logistics.shipment_outlooks",
                                                             _outlooks_of_reserved_orders)
"""For a consumer batch of reserved orders: which of their shipments exist, which orders were
withdrawn. `add_shipment` records the shipments it adds; a withdrawal forgets the read. The
consumer loads it only in a batch's first, savepoint-free pass, so a rolled-back event cannot
leave it stale."""


def shipment_outlook(session: Session, shipment_id: str, order_id: str,
                     batch_read: dict[str, ShipmentOutlook] | None) -> Any:
    """Does the shipment exist, was its order withdrawn: from the batch's read when it made one,
    else one statement (an exchange, a savepoint pass, one-by-one events)."""
    outlook = batch_read.get(shipment_id) if batch_read is not None else None
    if outlook is None:
        outlook = SHIPMENT_OUTLOOK.execute(session, {"sid": shipment_id, "oid": order_id}).one()
    return outlook


def add_shipment(session: Session, row: dict[str, Any], batch_read: dict[str, ShipmentOutlook] | None) -> None:
    # A plain INSERT at once (the next event may look the shipment up): an ORM object built and
    # flushed per reserved order was most of this handler's time at peak.
    _ADD_SHIPMENT.execute(session, row)
    sla_store.count_change(session, None, row)
    if batch_read is not None:  # a second event for it in this batch finds it there
        known = batch_read.get(row["shipment_id"])
        order_shipments = known.order_shipments if known is not None else None
        if order_shipments is not None and row["replacement_for_case"] is None:
            order_shipments.add(row["shipment_id"])
        batch_read[row["shipment_id"]] = ShipmentOutlook(True, order_shipments=order_shipments)


def order_shipment_ids(session: Session, order_id: str, shipment_id: str,
                       batch_read: dict[str, ShipmentOutlook] | None) -> set[str]:
    """The order's own shipments already queued: from the batch's read when it made one (for a
    reservation's first shipment id), else one statement."""
    outlook = batch_read.get(shipment_id) if batch_read is not None else None
    if outlook is not None and outlook.order_shipments is not None:
        return outlook.order_shipments
    return {row.shipment_id for row in _ORDER_SHIPMENTS.execute(session, {"oid": order_id}).all()}


# ---------------------------------------------------------------------------------------------
# Shipments, withdrawals, carrier confirmations


def shipment(session: Session, shipment_id: str) -> Shipment | None:
    return session.get(Shipment, shipment_id)


def shipments(session: Session, shipment_ids: Sequence[str]) -> list[Shipment]:
    """In the order given; ids not found are left out."""
    found = (session.get(Shipment, sid) for sid in shipment_ids)
    return [s for s in found if s is not None]


def save_shipment(session: Session, shipment: Shipment, changes: Mapping[str, Any]) -> None:
    """Write what a domain transition decided (and what it changes in the SLA's totals)."""
    before = sla_store.fields_of(shipment)
    for name, value in changes.items():
        setattr(shipment, name, value)
    session.add(shipment)
    sla_store.count_change(session, before, sla_store.fields_of(shipment))


def shipments_of_order(session: Session, order_id: str) -> list[Shipment]:
    return list(session.exec(select(Shipment).where(Shipment.order_id == order_id).order_by(col(Shipment.shipment_id))))


def parts_still_to_ship(session: Session, order_id: str, shipment_id: str) -> bool:
    """Whether another part of the order is still in a warehouse (withdrawn ones are not)."""
    return session.exec(select(func.count()).where(
        col(Shipment.order_id) == order_id, col(Shipment.shipment_id) != shipment_id,
        col(Shipment.replacement_for_case).is_(None), col(Shipment.status).in_(STILL_TO_SHIP))).one() > 0


def by_tracking(session: Session, carrier: str, tracking_number: str) -> Shipment | None:
    return session.exec(select(Shipment).where(Shipment.carrier == carrier,
                                               Shipment.tracking_number == tracking_number)).first()


def remember_withdrawal(session: Session, order_id: str, reason: str, cancelled_at: datetime) -> None:
    """Kept (the first one) so a reservation arriving after the cancellation is not queued."""
    if session.get(OrderWithdrawal, order_id) is None:
        session.add(OrderWithdrawal(order_id=order_id, reason=reason, cancelled_at=cancelled_at))


def serialise_balance_and_reservation(session: Session, order_id: str) -> None:
    """A deposit presale's balance and its reservation come on two topics, possibly to two
    instances at once: each looks for the other (the shipment, the kept balance), so they must
    not both look before either commits (PostgreSQL; SQLite serialises writers already)."""
    serialise_per_key(session, "logistics-presale", order_id)


def kept_balance(session: Session, order_id: str) -> Balance | None:
    """The balance received for a deposit presale, if it was (presale.py)."""
    kept = session.get(OrderBalance, order_id)
    return None if kept is None else Balance(kept.balance_paid_at, kept.priority_rank)


def keep_balance(session: Session, order_id: str, balance: Balance, received_at: datetime) -> None:
    """The first balance of an order, kept whether or not its shipment is open yet."""
    session.add(OrderBalance(order_id=order_id, balance_paid_at=balance.balance_paid_at,
                             priority_rank=balance.priority_rank, received_at=received_at))


def early_delivery(session: Session, carrier: str, tracking_number: str) -> EarlyCarrierDelivery | None:
    return session.get(EarlyCarrierDelivery, (carrier, tracking_number))


def keep_early_delivery(session: Session, carrier: str, tracking_number: str, delivered_at: datetime) -> None:
    """A carrier's confirmation before the hand-over scan: the first one is kept until then."""
    if early_delivery(session, carrier, tracking_number) is None:
        session.add(EarlyCarrierDelivery(carrier=carrier, tracking_number=tracking_number, delivered_at=delivered_at))


def forget_early_delivery(session: Session, early: EarlyCarrierDelivery) -> None:
    session.delete(early)


def add_incident(session: Session, incident: ShipmentIncident) -> None:
    session.add(incident)


def incidents(session: Session, shipment_id: str) -> list[ShipmentIncident]:
    return list(session.exec(select(ShipmentIncident).where(ShipmentIncident.shipment_id == shipment_id)
                             .order_by(col(ShipmentIncident.id))))


def outbox_states(session: Session, event_ids: Sequence[str]) -> dict[str, str]:
    """Event id -> its outbox row's state (not_published, in_progress, published, refused)."""
    if not event_ids:
        return {}
    rows = session.exec(select(OutboxMessage.event_id, OutboxMessage.state)
                        .where(col(OutboxMessage.event_id).in_(list(event_ids)))).all()
    return dict(rows)


# ---------------------------------------------------------------------------------------------
# Waves and the queue


def available(now: datetime):  # type: ignore[no-untyped-def]
    """Waiting to be picked: never claimed, or claimed by a wave whose lease has run out."""
    return or_(col(Shipment.status) == QUEUED,
               and_(col(Shipment.status) == PICKING, col(Shipment.claimed_until) < now))


def claim(session: Session, shipment_ids: Sequence[str], *, wave_id: str, picker_id: str,
          now: datetime, lease_until: datetime) -> list[str]:
    """Claim each shipment only if it is still available; the row count says who won. Two waves
    built at the same moment (even on two instances sharing a PostgreSQL database) can read
    the same candidates, but only one conditional UPDATE per row succeeds."""
    changes = wave_claim(wave_id=wave_id, picker_id=picker_id, lease_until=lease_until)
    won = []
    for shipment_id in shipment_ids:
        result = session.execute(
            update(Shipment)
            .where(col(Shipment.shipment_id) == shipment_id)
            .where(available(now))
            .values(**changes)
        )
        if result.rowcount == 1:
            won.append(shipment_id)
    return won


def claim_wave(session: Session, *, wave_id: str, picker_id: str, size: int, now: datetime,
               lease_until: datetime, warehouse: str = DEFAULT_WAREHOUSE) -> list[str]:
    """The `size` highest-priority available shipments of the warehouse, claimed for this wave,
    in wave order."""
    won: list[str] = []
    passed: set[str] = set()
    while len(won) < size:
        candidates = [row[-1] for row in _available_in_order(session, QUEUE_KEY, now, size - len(won), warehouse,
                                                             passed=passed)]
        if not candidates:
            break
        passed.update(candidates)
        won.extend(claim(session, candidates, wave_id=wave_id, picker_id=picker_id, now=now,
                         lease_until=lease_until))
    return won


def add_wave(session: Session, wave: PickWave) -> None:
    session.add(wave)
    session.flush()


def wave(session: Session, wave_id: str) -> PickWave | None:
    return session.get(PickWave, wave_id)


def shipments_of_wave(session: Session, wave_id: str) -> list[Shipment]:
    return list(session.exec(select(Shipment).where(Shipment.wave_id == wave_id).order_by(*DISPATCH_ORDER)))


def queue(session: Session, now: datetime, limit: int, after: tuple[Any, ...] | None = None,
          warehouse: str = DEFAULT_WAREHOUSE) -> list[Shipment]:
    """The warehouse's available shipments in wave order; `after`: the QUEUE_KEY of the last one
    of the previous page."""
    return _available_in_order(session, (Shipment,), now, limit, warehouse, after=after, key=queue_key)


def _available_in_order(session: Session, columns: Sequence[Any], now: datetime, limit: int, warehouse: str, *,
                        after: tuple[Any, ...] | None = None, passed: set[str] | frozenset[str] = frozenset(),
                        key: Any = None) -> list[Any]:
    """The first `limit` available shipments in QUEUE_KEY order (`columns` of each; with the
    QUEUE_KEY columns, rows sort as their key). The queued ones and those whose wave lease ran
    out are read as two ranges of the dispatch-order index and merged here: one query with the
    OR made the database sort every waiting shipment for each page."""
    def part(*where: Any) -> list[Any]:
        query = select(*columns).where(*where, col(Shipment.warehouse) == warehouse).order_by(*QUEUE_KEY).limit(limit)
        if after is not None:
            query = query.where(tuple_(*QUEUE_KEY) > after)
        if passed:
            query = query.where(col(Shipment.shipment_id).not_in(passed))
        return list(session.exec(query))

    rows = part(col(Shipment.status) == QUEUED) + part(col(Shipment.status) == PICKING,
                                                       col(Shipment.claimed_until) < now)
    return sorted(rows, key=key)[:limit]


def packed(session: Session, limit: int, warehouse: str = DEFAULT_WAREHOUSE) -> tuple[list[Shipment], int]:
    """The warehouse's shipments packed and waiting at the dock, in dispatch order, and how many."""
    where = (col(Shipment.status) == "packed", col(Shipment.warehouse) == warehouse)
    rows = list(session.exec(select(Shipment).where(*where).order_by(*QUEUE_KEY).limit(limit)))
    return rows, session.exec(select(func.count()).select_from(Shipment).where(*where)).one()


def queue_key(shipment: Shipment) -> tuple[Any, ...]:
    return shipment.class_order, shipment.deadline_24h, shipment.priority_rank, shipment.shipment_id


def queue_counts(session: Session, now: datetime, warehouse: str = DEFAULT_WAREHOUSE) -> dict[str, int]:
    """The warehouse's available shipments per class, counted by `class_order` on the
    dispatch-order index (no row is read for the queued ones); a class the rules do not know is
    counted as "other"."""
    counts: dict[str, int] = {}
    for where in ((col(Shipment.status) == QUEUED,),
                  (col(Shipment.status) == PICKING, col(Shipment.claimed_until) < now)):
        for order, n in session.exec(select(Shipment.class_order, func.count())
                                     .where(*where, col(Shipment.warehouse) == warehouse)
                                     .group_by(col(Shipment.class_order))).all():
            klass = PRIORITY_CLASSES[order] if 0 <= order < len(PRIORITY_CLASSES) else "other"
            counts[klass] = counts.get(klass, 0) + n
    return counts


def in_waves_count(session: Session, now: datetime, warehouse: str = DEFAULT_WAREHOUSE) -> int:
    return session.exec(select(func.count()).select_from(Shipment)
                        .where(col(Shipment.status) == PICKING, col(Shipment.warehouse) == warehouse,
                               col(Shipment.claimed_until) >= now)).one()


# ---------------------------------------------------------------------------------------------
# Carrier capacity


def used_capacity(session: Session, day: date) -> dict[str, int]:
    rows = session.exec(select(CarrierDayLoad.carrier, CarrierDayLoad.used).where(CarrierDayLoad.day == day.isoformat()))
    return {carrier: used for carrier, used in rows}


def take_capacity(session: Session, carrier: str, day: date, capacity: int) -> bool:
    """One parcel of the carrier's daily capacity; False when it is used up. The check and the
    increment are one conditional UPDATE, so concurrent hand-overs cannot overbook."""
    key = day.isoformat()
    if session.get(CarrierDayLoad, (carrier, key)) is None:
        try:
            with session.begin_nested():  # another instance may insert the day's row first
                session.add(CarrierDayLoad(carrier=carrier, day=key, used=0))
        except IntegrityError:
            pass
    result = session.execute(
        update(CarrierDayLoad)
        .where(col(CarrierDayLoad.carrier) == carrier, col(CarrierDayLoad.day) == key,
               col(CarrierDayLoad.used) < capacity)
        .values(used=CarrierDayLoad.used + 1)
    )
    return result.rowcount == 1


# ---------------------------------------------------------------------------------------------
# What the SLA, the forecast and the reports count


def shipment_facts(session: Session) -> list[ShipmentFacts]:
    kinds: dict[str, set[str]] = {}
    for shipment_id, kind in session.exec(select(ShipmentIncident.shipment_id, ShipmentIncident.kind)):
        kinds.setdefault(shipment_id, set()).add(kind)
    rows = session.exec(select(Shipment.shipment_id, Shipment.carrier, Shipment.paid_at, Shipment.shipped_at,
                               Shipment.delivered_at).where(col(Shipment.withdrawn_at).is_(None))).all()
    return [ShipmentFacts(carrier=carrier, paid_at=paid, shipped_at=shipped, delivered_at=delivered,
                          exception_kinds=frozenset(kinds.get(sid, ())))
            for sid, carrier, paid, shipped, delivered in rows]


# ---------------------------------------------------------------------------------------------
# Finding shipments (GET /shipments: order 360 in the console)

SEARCH_KEY = (col(Shipment.created_at), col(Shipment.shipment_id))
"""Oldest first, the id breaking ties: the sort key a page of a search continues after."""


def search(session: Session, *, order_id: str | None, tracking_number: str | None, fetch: int,
           after: tuple[Any, ...] | None = None) -> list[Shipment]:
    """Shipments of an order and/or with a tracking number (any carrier), a page at a time."""
    query = select(Shipment).order_by(*SEARCH_KEY).limit(fetch)
    if order_id is not None:
        query = query.where(Shipment.order_id == order_id)
    if tracking_number is not None:
        query = query.where(Shipment.tracking_number == tracking_number)
    if after is not None:
        query = query.where(tuple_(*SEARCH_KEY) > after)
    return list(session.exec(query))


def search_key(shipment: Shipment) -> tuple[Any, ...]:
    return shipment.created_at, shipment.shipment_id

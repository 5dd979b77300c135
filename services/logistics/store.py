"""Queries over the logistics tables, including the database-side claiming of pick waves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.logistics.domain import NOT_YET_SHIPPED, PICKING, QUEUED, ShipmentFacts, SlaOrder
from services.logistics.models import CarrierDayLoad, Shipment, ShipmentIncident

DISPATCH_ORDER = (col(Shipment.class_order), col(Shipment.deadline_24h), col(Shipment.priority_rank))
"""The database's version of domain.dispatch_key: class, nearest 24h deadline, rank."""


def available(now: datetime):  # type: ignore[no-untyped-def]
    """Waiting to be picked: never claimed, or claimed by a wave whose lease has run out."""
    return or_(col(Shipment.status) == QUEUED,
               and_(col(Shipment.status) == PICKING, col(Shipment.claimed_until) < now))


def claim(session: Session, shipment_ids: Sequence[str], *, wave_id: str, picker_id: str,
          now: datetime, lease_until: datetime) -> list[str]:
    """Claim each shipment only if it is still available; the row count says who won. Two waves
    built at the same moment (even on two instances sharing a PostgreSQL database) can read
    the same candidates, but only one conditional UPDATE per row succeeds."""
    won = []
    for shipment_id in shipment_ids:
        result = session.execute(
            update(Shipment)
            .where(col(Shipment.shipment_id) == shipment_id)
            .where(available(now))
            .values(status=PICKING, wave_id=wave_id, picker_id=picker_id, claimed_until=lease_until)
        )
        if result.rowcount == 1:
            won.append(shipment_id)
    return won


def claim_wave(session: Session, *, wave_id: str, picker_id: str, size: int, now: datetime,
               lease_until: datetime) -> list[str]:
    """The `size` highest-priority available shipments, claimed for this wave, in wave order."""
    won: list[str] = []
    passed: set[str] = set()
    while len(won) < size:
        query = select(Shipment.shipment_id).where(available(now)).order_by(*DISPATCH_ORDER).limit(size - len(won))
        if passed:
            query = query.where(col(Shipment.shipment_id).not_in(passed))
        candidates = list(session.exec(query))
        if not candidates:
            break
        passed.update(candidates)
        won.extend(claim(session, candidates, wave_id=wave_id, picker_id=picker_id, now=now,
                         lease_until=lease_until))
    return won


def queue(session: Session, now: datetime, limit: int) -> list[Shipment]:
    return list(session.exec(select(Shipment).where(available(now)).order_by(*DISPATCH_ORDER).limit(limit)))


def queue_counts(session: Session, now: datetime) -> dict[str, int]:
    rows = session.exec(select(Shipment.priority_class, func.count()).where(available(now))
                        .group_by(Shipment.priority_class)).all()
    return {klass: n for klass, n in rows}


def in_waves_count(session: Session, now: datetime) -> int:
    return session.exec(select(func.count()).select_from(Shipment)
                        .where(col(Shipment.status) == PICKING, col(Shipment.claimed_until) >= now)).one()


def unshipped_deadlines_in_dispatch_order(session: Session, now: datetime) -> list[datetime]:
    """24h deadlines of every order not yet handed over, in the order waves would take them
    (shipments already in a wave or packed come first: they are further along)."""
    in_hand = session.exec(select(Shipment.deadline_24h)
                           .where(col(Shipment.status).in_(NOT_YET_SHIPPED), ~available(now),
                                  col(Shipment.replacement_for_case).is_(None))
                           .order_by(*DISPATCH_ORDER)).all()
    waiting = session.exec(select(Shipment.deadline_24h)
                           .where(available(now), col(Shipment.replacement_for_case).is_(None))
                           .order_by(*DISPATCH_ORDER)).all()
    return [*in_hand, *waiting]


def sla_orders(session: Session) -> list[SlaOrder]:
    """Every customer order counted by the SLA: replacements and withdrawn orders are not."""
    rows = session.exec(
        select(Shipment.order_id, Shipment.shipment_id, Shipment.priority_class, Shipment.paid_at,
               Shipment.shipped_at, Shipment.status)
        .where(col(Shipment.replacement_for_case).is_(None), col(Shipment.withdrawn_at).is_(None))
    ).all()
    return [SlaOrder(*row) for row in rows]


def shipment_facts(session: Session) -> list[ShipmentFacts]:
    kinds: dict[str, set[str]] = {}
    for shipment_id, kind in session.exec(select(ShipmentIncident.shipment_id, ShipmentIncident.kind)):
        kinds.setdefault(shipment_id, set()).add(kind)
    rows = session.exec(select(Shipment.shipment_id, Shipment.carrier, Shipment.paid_at, Shipment.shipped_at,
                               Shipment.delivered_at).where(col(Shipment.withdrawn_at).is_(None))).all()
    return [ShipmentFacts(carrier=carrier, paid_at=paid, shipped_at=shipped, delivered_at=delivered,
                          exception_kinds=frozenset(kinds.get(sid, ())))
            for sid, carrier, paid, shipped, delivered in rows]


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


def by_tracking(session: Session, carrier: str, tracking_number: str) -> Shipment | None:
    return session.exec(select(Shipment).where(Shipment.carrier == carrier,
                                               Shipment.tracking_number == tracking_number)).first()


def shipments_of_order(session: Session, order_id: str) -> list[Shipment]:
    return list(session.exec(select(Shipment).where(Shipment.order_id == order_id)))


def incidents(session: Session, shipment_id: str) -> list[ShipmentIncident]:
    return list(session.exec(select(ShipmentIncident).where(ShipmentIncident.shipment_id == shipment_id)
                             .order_by(col(ShipmentIncident.id))))


def shipments_of_wave(session: Session, wave_id: str) -> list[Shipment]:
    return list(session.exec(select(Shipment).where(Shipment.wave_id == wave_id).order_by(*DISPATCH_ORDER)))

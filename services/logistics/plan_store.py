"""SQL of the event's plan and the carrier bookings (issue 32); the figures the forecast blends in
are read from the SLA's running totals (sla_tally.py), not from every shipment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.logistics.models import CarrierBooking, EventPlan, Shipment, SlaPaidHour, SlaShippedHour

PLAN_KEY = "current"
PROPOSED, CONFIRMED, SUPERSEDED = "proposed", "confirmed", "superseded"


def saved_plan(session: Session) -> EventPlan | None:
    return session.get(EventPlan, PLAN_KEY)


def save_plan(session: Session, name: str, body_json: str, now: datetime, actor: str | None) -> EventPlan:
    row = session.get(EventPlan, PLAN_KEY) or EventPlan(plan_key=PLAN_KEY, name=name, body_json=body_json,
                                                        loaded_at=now)
    row.name, row.body_json, row.loaded_at, row.loaded_by = name, body_json, now, actor
    session.add(row)
    return row


def arrivals_per_hour(session: Session) -> dict[datetime, int]:
    """Orders paid per hour (all classes): what the SLA counts as arrived."""
    rows = session.exec(select(SlaPaidHour.paid_hour, func.sum(SlaPaidHour.paid))
                        .group_by(col(SlaPaidHour.paid_hour))).all()
    return {hour: int(count) for hour, count in rows if count}


def shipped_per_hour(session: Session) -> dict[datetime, int]:
    rows = session.exec(select(SlaShippedHour.shipped_hour, func.sum(SlaShippedHour.dispatched))
                        .group_by(col(SlaShippedHour.shipped_hour))).all()
    return {hour: int(count) for hour, count in rows if count}


def regions_seen(session: Session) -> dict[str, int]:
    """Orders queued per region so far (replacements left out: they are not the event's orders)."""
    rows = session.exec(select(Shipment.region, func.count()).where(col(Shipment.replacement_for_case).is_(None))
                        .group_by(col(Shipment.region))).all()
    return {region: int(count) for region, count in rows}


def booking(session: Session, booking_id: str) -> CarrierBooking | None:
    return session.get(CarrierBooking, booking_id)


def bookings(session: Session, day: date | None, limit: int) -> list[CarrierBooking]:
    query = select(CarrierBooking)
    if day is not None:
        query = query.where(col(CarrierBooking.day) == day.isoformat())
    return list(session.exec(query.order_by(col(CarrierBooking.day), col(CarrierBooking.carrier),
                                            col(CarrierBooking.proposed_at), col(CarrierBooking.booking_id))
                             .limit(limit)).all())


def confirmed(session: Session, days: Iterable[date]) -> dict[date, dict[str, int]]:
    """Capacity confirmed per day and carrier."""
    keys = [d.isoformat() for d in days]
    if not keys:
        return {}
    rows = session.exec(select(CarrierBooking.day, CarrierBooking.carrier, CarrierBooking.parcels)
                        .where(col(CarrierBooking.day).in_(keys), col(CarrierBooking.status) == CONFIRMED)).all()
    answer: dict[date, dict[str, int]] = {}
    for day, carrier, parcels in rows:
        answer.setdefault(date.fromisoformat(day), {})[carrier] = parcels
    return answer


def confirmed_on(session: Session, day: date) -> dict[str, int]:
    return confirmed(session, [day]).get(day, {})


def drop_proposals(session: Session, days: Iterable[date]) -> None:
    """Proposals not confirmed for these days: replaced by a new proposal."""
    keys = [d.isoformat() for d in days]
    for row in session.exec(select(CarrierBooking).where(col(CarrierBooking.day).in_(keys),
                                                         col(CarrierBooking.status) == PROPOSED)).all():
        session.delete(row)
    session.flush()


def add_booking(session: Session, row: CarrierBooking) -> None:
    session.add(row)


def supersede(session: Session, carrier: str, day: str, keep: str) -> None:
    """An earlier confirmation of the same carrier and day gives way to the new one."""
    for row in session.exec(select(CarrierBooking).where(col(CarrierBooking.carrier) == carrier,
                                                         col(CarrierBooking.day) == day,
                                                         col(CarrierBooking.status) == CONFIRMED,
                                                         col(CarrierBooking.booking_id) != keep)).all():
        row.status = SUPERSEDED
        session.add(row)

"""Every statement the orders service runs, by name: the use cases load and save through these.

The hot ones (each order passes them at peak) are `FastStatement`s built once, run on the
driver's cursor (shared/fastsql.py); timeline and submission rows are deferred inserts written
at commit (shared/deferred.py). Plain SELECTs and INSERTs, not ORM objects, on the write path:
building and flushing an ORM object was half of the intake's time at peak.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, update
from sqlmodel import Session, col, delete, select

from services.orders.domain import RefundFacts
from services.orders.models import (OrderConflict, OrderParkedEvent, OrderRecord, OrderRejection, OrderStep,
                                    OrderSubmission)
from shared.db import serialise_per_key
from shared.deferred import defer_insert, pending_rows
from shared.event_registry import EVENT_MODELS
from shared.events import Contract
from shared.fastsql import FastStatement, in_list_chunks
from shared.pagination import PageRequest
from shared.unit_of_work import Prefetch

_RECORDS = OrderRecord.__table__
_STEPS = OrderStep.__table__
_PARKED = OrderParkedEvent.__table__
_SUBMISSIONS = OrderSubmission.__table__

# ---------------------------------------------------------------------------------------------
# Intake

_ACCEPTED_CONTENT = select(_RECORDS.c.content_json).where(_RECORDS.c.order_id == bindparam("oid"))
_ANY_PARKED = select(_PARKED.c.id).where(_PARKED.c.order_id == bindparam("oid")).limit(1)
_SUBMITTED_BY = select(_SUBMISSIONS.c.actor).where(
    _SUBMISSIONS.c.event_id == bindparam("eid"), _SUBMISSIONS.c.order_id == bindparam("oid"),
    _SUBMISSIONS.c.content_hash == bindparam("content_hash"))
# One read for the questions every order asks: accepted before? events waiting for it? did this
# service write this very event for an HTTP caller (origin.py)?
_INTAKE_STATE = FastStatement(select(_ACCEPTED_CONTENT.scalar_subquery().label("accepted_content"),
                                     exists(_ANY_PARKED).label("has_parked"),
                                     _SUBMITTED_BY.scalar_subquery().label("submitted_by")))
_ANY_PARKED_FAST = FastStatement(_ANY_PARKED)
_ADD_ORDER = FastStatement(insert(_RECORDS))


def serialise_per_order(session: Session, order_id: str) -> None:
    """Accepting an order and parking an event for it must not interleave, or the parked event
    would miss the acceptance that should apply it. SQLite's BEGIN IMMEDIATE already serialises
    writers; on PostgreSQL a transaction-scoped advisory lock per order id does it."""
    serialise_per_key(session, "orders", order_id)


def intake_state(session: Session, order_id: str, event_id: str | None, content_hash: str) -> Any:
    """`accepted_content` (None: a new order id), `has_parked`, `submitted_by` (the HTTP caller
    who submitted this very event, None if this service did not write it)."""
    return _INTAKE_STATE.execute(session, {"oid": order_id, "eid": event_id, "content_hash": content_hash}).one()


def accepted_content(session: Session, order_id: str) -> str | None:
    """The order as accepted (content_json), None for a new order id. A plain SELECT: no flush."""
    return session.execute(_ACCEPTED_CONTENT, {"oid": order_id}).scalar_one_or_none()


def add_order(session: Session, row: dict[str, Any]) -> None:
    """A plain INSERT at once: the lifecycle and re-sends read the row back with plain SELECTs."""
    _ADD_ORDER.execute(session, row)


def add_step(session: Session, *, order_id: str, status: str, outcome: str, at: datetime, recorded_at: datetime,
             event_type: str, event_id: str | None, actor: str, note: str) -> None:
    """A timeline row, written at commit with the transaction's other timeline rows, in the
    order they were added (the timeline sorts by time, then id). Nothing reads the timeline
    inside the transaction that writes it."""
    defer_insert(session, _STEPS, {
        "order_id": order_id, "status": status, "outcome": outcome, "at": at, "recorded_at": recorded_at,
        "event_type": event_type, "event_id": event_id, "actor": actor, "note": note})


def add_conflict(session: Session, *, order_id: str, channel: str, event_id: str | None, source: str | None,
                 changes: list[str], content_json: str, now: datetime) -> None:
    session.add(OrderConflict(order_id=order_id, channel=channel, event_id=event_id, source=source,
                              differences=json.dumps(changes), content_json=content_json, received_at=now))


def add_rejection(session: Session, order_id: str | None, reason: str, *, now: datetime,
                  event_id: str | None) -> None:
    session.add(OrderRejection(order_id=order_id, reason=reason, event_id=event_id, rejected_at=now))


def record_submission(session: Session, *, event_id: str, order_id: str, content_hash: str, actor: str,
                      now: datetime) -> None:
    """POST /orders wrote `event_id` to the outbox for `actor`; kept in the same transaction."""
    defer_insert(session, _SUBMISSIONS, {
        "event_id": event_id, "order_id": order_id, "content_hash": content_hash, "actor": actor,
        "submitted_at": now})


# ---------------------------------------------------------------------------------------------
# Lifecycle

_LOCKED_STATUS = FastStatement(select(_RECORDS.c.status).where(_RECORDS.c.order_id == bindparam("oid"))
                               .with_for_update())
# Every lifecycle event asks both (the order's status, locked; anything parked for it?): one
# statement instead of two.
_LIFECYCLE_STATE = FastStatement(select(_RECORDS.c.status, exists(_ANY_PARKED).label("has_parked"))
                                 .where(_RECORDS.c.order_id == bindparam("oid")).with_for_update(of=_RECORDS))
# The same two answers for every order of a consumer batch at once. Locked in order_id order,
# so two writers taking several orders' rows cannot deadlock.
_LIFECYCLE_STATES = FastStatement(
    select(_RECORDS.c.order_id, _RECORDS.c.status,
           exists(select(_PARKED.c.id).where(_PARKED.c.order_id == _RECORDS.c.order_id)).label("has_parked"))
    .where(_RECORDS.c.order_id.in_(bindparam("oids", expanding=True)))
    .order_by(_RECORDS.c.order_id).with_for_update(of=_RECORDS))
_MOVE_ON = FastStatement(update(_RECORDS).where(_RECORDS.c.order_id == bindparam("oid"))
                         .values(status=bindparam("new_status"), status_changed_at=bindparam("changed_at")))
_REFUND_STATE = FastStatement(
    select(_RECORDS.c.paid_cents, _RECORDS.c.refunded_cents,
           exists(select(_STEPS.c.id).where(_STEPS.c.order_id == _RECORDS.c.order_id,
                                            _STEPS.c.event_type == "shipment.exception")).label("exception_reported"))
    .where(_RECORDS.c.order_id == bindparam("oid")))
_ADD_REFUND = FastStatement(update(_RECORDS).where(_RECORDS.c.order_id == bindparam("oid"))
                            .values(refunded_cents=_RECORDS.c.refunded_cents + bindparam("cents")))


@dataclass(frozen=True)
class LifecycleState:
    status: str
    has_parked: bool


def lifecycle_state(session: Session, order_id: str) -> Any | None:
    """The order's `status` (row locked) and whether anything is parked for it; None if not accepted."""
    return _LIFECYCLE_STATE.execute(session, {"oid": order_id}).one_or_none()


def load_lifecycle_states(session: Session, payloads: Sequence[Contract]) -> dict[str, LifecycleState]:
    """`lifecycle_state` of every order a consumer batch of lifecycle events is about, in one
    statement instead of one per event (at peak every order's stock.reserved passes here; on
    PostgreSQL each statement is a round trip). The use case keeps the dict up to date as the
    batch's events move orders on; an order that was not accepted yet is read again when its
    event comes. Only valid while every change of status in the transaction goes through the
    use cases that keep it, so the consumer reads it only in a batch's first, savepoint-free pass."""
    ids = sorted({p.order_id for p in payloads})  # type: ignore[attr-defined]
    states: dict[str, LifecycleState] = {}
    for chunk in in_list_chunks(ids):
        for row in _LIFECYCLE_STATES.execute(session, {"oids": chunk}).all():
            states[row.order_id] = LifecycleState(row.status, bool(row.has_parked))
    return states


LIFECYCLE_STATES: Prefetch[str, LifecycleState] = Prefetch("orders.lifecycle_states", load_lifecycle_states)


def lock_status(session: Session, order_id: str) -> str | None:
    """The order's status, its row locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serialises writers); None if not accepted."""
    return _LOCKED_STATUS.execute(session, {"oid": order_id}).scalar_one_or_none()


def save_status(session: Session, order_id: str, status: str, now: datetime) -> None:
    """The state the order aggregate decided (domain.py)."""
    _MOVE_ON.execute(session, {"oid": order_id, "new_status": status, "changed_at": now})


def refund_facts(session: Session, order_id: str) -> RefundFacts:
    row = _REFUND_STATE.execute(session, {"oid": order_id}).one()
    exception_reported = bool(row.exception_reported) or any(  # e.g. parked with the refund, not written yet
        r["order_id"] == order_id and r["event_type"] == "shipment.exception" for r in pending_rows(session, _STEPS))
    return RefundFacts(row.paid_cents, row.refunded_cents, exception_reported)


def add_refund(session: Session, order_id: str, cents: int) -> None:
    _ADD_REFUND.execute(session, {"oid": order_id, "cents": cents})


def park(session: Session, *, order_id: str, event_id: str, event_type: str, topic: str, payload: Contract,
         occurred_at: datetime, now: datetime, actor: str) -> None:
    """An event for an order not accepted yet, kept to apply when the order comes."""
    session.add(OrderParkedEvent(order_id=order_id, event_id=event_id, event_type=event_type, topic=topic,
                                 payload_json=payload.model_dump_json(), occurred_at=occurred_at, parked_at=now,
                                 actor=actor))


def any_parked(session: Session, order_id: str) -> bool:
    return _ANY_PARKED_FAST.execute(session, {"oid": order_id}).first() is not None


def parked_events(session: Session, order_id: str) -> list[tuple[OrderParkedEvent, Contract]]:
    """The events parked for the order, in the order they happened, each with its payload (read
    back by the type it was parked as)."""
    rows = session.exec(select(OrderParkedEvent).where(OrderParkedEvent.order_id == order_id)
                        .order_by(col(OrderParkedEvent.occurred_at), col(OrderParkedEvent.id))).all()
    return [(row, EVENT_MODELS[(row.event_type, 1)].model_validate_json(row.payload_json)) for row in rows]


def forget_parked(session: Session, order_id: str) -> None:
    session.exec(delete(OrderParkedEvent).where(OrderParkedEvent.order_id == order_id))  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------
# Reads (the console and operators)


def order_record(session: Session, order_id: str) -> OrderRecord | None:
    return session.get(OrderRecord, order_id)


def timeline(session: Session, order_id: str) -> Sequence[OrderStep]:
    return session.exec(select(OrderStep).where(OrderStep.order_id == order_id)
                        .order_by(col(OrderStep.at), col(OrderStep.id))).all()


def latest_rejection(session: Session, order_id: str) -> OrderRejection | None:
    return session.exec(select(OrderRejection).where(OrderRejection.order_id == order_id)
                        .order_by(col(OrderRejection.id).desc())).first()


def page_of_orders(session: Session, page: PageRequest, after_rank: str | None, *, status: str | None,
                   priority_class: str | None, customer_id: str | None) -> Sequence[OrderRecord]:
    """Up to page.fetch_limit orders in dispatch priority order (the rank: unique, never NULL)."""
    query = select(OrderRecord).order_by(col(OrderRecord.priority_rank)).limit(page.fetch_limit)
    if status is not None:
        query = query.where(OrderRecord.status == status)
    if priority_class is not None:
        query = query.where(OrderRecord.priority_class == priority_class)
    if customer_id is not None:
        query = query.where(OrderRecord.customer_id == customer_id)
    if after_rank is not None:
        query = query.where(col(OrderRecord.priority_rank) > after_rank)
    return session.exec(query).all()


def page_of_conflicts(session: Session, page: PageRequest, after_id: int | None, *,
                      order_id: str | None) -> Sequence[OrderConflict]:
    query = select(OrderConflict).order_by(col(OrderConflict.id)).limit(page.fetch_limit)
    if order_id is not None:
        query = query.where(OrderConflict.order_id == order_id)
    if after_id is not None:
        query = query.where(col(OrderConflict.id) > after_id)
    return session.exec(query).all()


def page_of_rejections(session: Session, page: PageRequest, after_id: int | None) -> Sequence[OrderRejection]:
    query = select(OrderRejection).order_by(col(OrderRejection.id)).limit(page.fetch_limit)
    if after_id is not None:
        query = query.where(col(OrderRejection.id) > after_id)
    return session.exec(query).all()


def totals_by_class_and_state(session: Session) -> list[tuple[str, str, int, int, int]]:
    """(priority class, status, orders, paid cents, refunded cents) for every pair that has orders."""
    rows = session.exec(select(OrderRecord.priority_class, OrderRecord.status, func.count(),
                               func.sum(OrderRecord.paid_cents), func.sum(OrderRecord.refunded_cents))
                        .group_by(OrderRecord.priority_class, OrderRecord.status)).all()
    return [(klass, status, count, int(cents or 0), int(refunded or 0))
            for klass, status, count, cents, refunded in rows]


def counts_beside_orders(session: Session) -> dict[str, int]:
    """Rejected orders, conflicts and parked events."""
    return {name: session.exec(select(func.count()).select_from(model)).one()
            for name, model in (("rejected", OrderRejection), ("conflicts", OrderConflict),
                                ("parked_events", OrderParkedEvent))}


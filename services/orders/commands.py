"""What the orders service does, inside one transaction: accept an order, apply a lifecycle event,
cancel. Kafka handlers and HTTP routes both call these, so a rule is applied the same way
whichever way a request came in. Events go out through `publish` (the transactional outbox)."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, text, update
from sqlmodel import Session, col, delete, select

from services.orders.domain import (
    OrderInvalid,
    OrderPolicy,
    content_differences,
    content_json,
    order_content,
    priority_class,
    priority_rank,
    validate_order,
)
from services.orders.lifecycle import (
    CANCELLED,
    OCCURRED_AT_FIELD,
    TARGET,
    Transition,
    apply_event,
    decide_cancellation,
    describe,
    refund_refusal,
)
from services.orders.models import OrderConflict, OrderParkedEvent, OrderRecord, OrderRejection, OrderStep
from services.orders.origin import SUBMITTED_BY, Origin, content_hash
from shared.deferred import defer_insert, pending_rows
from shared.events import Contract, OrderAccepted, OrderCancellationRefused, OrderCancelled, OrderPlaced
from shared.event_registry import EVENT_MODELS
from shared.fastsql import FastStatement, in_list_chunks
from shared.messaging import InvalidEvent
from shared.unit_of_work import Prefetch
from shared.topics import ORDERS_EVENTS, TopicSpec

log = logging.getLogger(__name__)

Publish = Callable[[TopicSpec, str, Contract, str], object]
"""publish(topic spec, event type, payload, key): adds the event to the outbox of the open transaction."""

CANCEL_REQUEST = "order.cancelled"


# ---------------------------------------------------------------------------------------------
# Intake


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # accepted | duplicate | conflict | rejected
    reason: str = ""


def place_order(session: Session, order: OrderPlaced, policy: OrderPolicy, *, now: datetime,
                publish: Publish, origin: Origin) -> IntakeResult:
    try:
        validate_order(order, policy)
    except OrderInvalid as exc:
        return IntakeResult("rejected", str(exc))
    serialise_per_order(session, order.order_id)
    canonical = content_json(order)
    digest = content_hash(canonical)
    # One read for the questions every order asks: accepted before? events waiting for it? did
    # this service write this very event for an HTTP caller (origin.py)? (Under the per-order
    # lock, nothing can be parked for this order until the commit.)
    known = _INTAKE_STATE.execute(session, {"oid": order.order_id, "eid": origin.event_id,
                                            "content_hash": digest}).one()
    if known.submitted_by is not None:
        origin = origin.submitted_over_http(known.submitted_by)
    if known.accepted_content is not None:
        return resend_outcome(session, order, known.accepted_content, now=now, origin=origin)

    klass = priority_class(order, policy)
    accepted = OrderAccepted(
        order_id=order.order_id, customer_id=order.customer_id, order_type=order.order_type,
        priority_class=klass, priority_rank=priority_rank(klass, order.paid_at, order.order_id),
        lines=order.lines, discount=order.discount, paid_amount=order.paid_amount, paid_at=order.paid_at,
        region=order.region, currency=order.currency, deposit=order.deposit,
        balance_paid_at=order.balance_paid_at, promotions=order.promotions, accepted_at=now,
    )
    # A plain INSERT at once (check_resend and the lifecycle read the row back with plain
    # SELECTs); building and flushing an ORM object was half of the intake's time at peak.
    _ADD_ORDER.execute(session, {
        "order_id": order.order_id, "customer_id": order.customer_id, "order_type": order.order_type,
        "priority_class": klass, "priority_rank": accepted.priority_rank, "status": "accepted",
        "paid_amount": order.paid_amount, "paid_cents": int(order.paid_amount * 100), "discount": order.discount,
        "currency": order.currency, "region": order.region, "paid_at": order.paid_at, "accepted_at": now,
        "status_changed_at": now, "content_json": canonical, "content_hash": digest, "refunded_cents": 0,
    })
    add_step(session, order_id=order.order_id, status="accepted", outcome="advanced", at=now, recorded_at=now,
             event_type="order.placed", event_id=origin.event_id, actor=origin.actor,
             note=f"class {klass}, via {origin.channel}")
    publish(ORDERS_EVENTS, "order.accepted", accepted, order.order_id)
    if known.has_parked:
        _apply_parked(session, order.order_id, now=now, publish=publish)
    return IntakeResult("accepted")


# Built once: two lookups every accepted order makes; a statement built per call (and an ORM
# load for check_resend) cost a third of the intake's time at peak. Plain SELECTs, so they do not
# flush: the order row is a plain INSERT too, and a savepoint's release flushes parked rows.
_ACCEPTED_CONTENT = select(OrderRecord.__table__.c.content_json).where(
    OrderRecord.__table__.c.order_id == bindparam("oid"))
_ANY_PARKED = select(OrderParkedEvent.__table__.c.id).where(
    OrderParkedEvent.__table__.c.order_id == bindparam("oid")).limit(1)
# Run on the driver's cursor (shared/fastsql.py): these are every order's statements.
_INTAKE_STATE = FastStatement(select(_ACCEPTED_CONTENT.scalar_subquery().label("accepted_content"),
                                     exists(_ANY_PARKED).label("has_parked"),
                                     SUBMITTED_BY.scalar_subquery().label("submitted_by")))
_ANY_PARKED_FAST = FastStatement(_ANY_PARKED)


_RECORDS = OrderRecord.__table__
_LOCKED_STATUS = FastStatement(select(_RECORDS.c.status).where(_RECORDS.c.order_id == bindparam("oid")).with_for_update())
# Every lifecycle event asks both (the order's status, locked; anything parked for it?): one
# statement instead of two.
_LIFECYCLE_STATE = FastStatement(select(_RECORDS.c.status, exists(_ANY_PARKED).label("has_parked"))
                                 .where(_RECORDS.c.order_id == bindparam("oid")).with_for_update(of=_RECORDS))
# The same two answers for every order of a consumer batch at once (see load_lifecycle_states).
# Locked in order_id order, so two writers taking several orders' rows cannot deadlock.
_LIFECYCLE_STATES = FastStatement(
    select(_RECORDS.c.order_id, _RECORDS.c.status,
           exists(select(OrderParkedEvent.__table__.c.id)
                  .where(OrderParkedEvent.__table__.c.order_id == _RECORDS.c.order_id)).label("has_parked"))
    .where(_RECORDS.c.order_id.in_(bindparam("oids", expanding=True)))
    .order_by(_RECORDS.c.order_id).with_for_update(of=_RECORDS))
_MOVE_ON = FastStatement(update(_RECORDS).where(_RECORDS.c.order_id == bindparam("oid"))
                         .values(status=bindparam("new_status"), status_changed_at=bindparam("changed_at")))
_ADD_ORDER = FastStatement(insert(_RECORDS))


def add_step(session: Session, *, order_id: str, status: str, outcome: str, at: datetime, recorded_at: datetime,
             event_type: str, event_id: str | None, actor: str, note: str) -> None:
    """A timeline row, written at commit with the transaction's other timeline rows, in the
    order they were added (the timeline sorts by time, then id). Nothing reads the timeline
    inside the transaction that writes it."""
    defer_insert(session, OrderStep.__table__, {
        "order_id": order_id, "status": status, "outcome": outcome, "at": at, "recorded_at": recorded_at,
        "event_type": event_type, "event_id": event_id, "actor": actor, "note": note})


def check_resend(session: Session, order: OrderPlaced, *, now: datetime, origin: Origin) -> IntakeResult | None:
    """None when the order id is new. A re-send with the same content is a harmless duplicate; with
    different content it is a conflict, recorded for operators, and the accepted order stands (R3)."""
    existing = session.execute(_ACCEPTED_CONTENT, {"oid": order.order_id}).scalar_one_or_none()
    if existing is None:
        return None
    return resend_outcome(session, order, existing, now=now, origin=origin)


def resend_outcome(session: Session, order: OrderPlaced, accepted_content: str, *, now: datetime,
                   origin: Origin) -> IntakeResult:
    """`order` came again; `accepted_content` is what was accepted the first time."""
    changes = content_differences(json.loads(accepted_content), order_content(order))
    if not changes:
        return IntakeResult("duplicate")
    reason = (f"conflict: order {order.order_id} was already accepted with different content "
              f"({'; '.join(changes)}); the accepted order stands")
    session.add(OrderConflict(order_id=order.order_id, channel=origin.channel, event_id=origin.event_id,
                              source=origin.source, differences=json.dumps(changes),
                              content_json=content_json(order), received_at=now))
    log.warning("tampering attempt refused: %s", reason)
    return IntakeResult("conflict", reason)


def record_rejection(session: Session, order_id: str | None, reason: str, *, now: datetime,
                     event_id: str | None) -> None:
    session.add(OrderRejection(order_id=order_id, reason=reason, event_id=event_id, rejected_at=now))


# ---------------------------------------------------------------------------------------------
# Lifecycle


def apply_lifecycle_event(session: Session, event_type: str, payload: Contract, *, now: datetime,
                          publish: Publish, origin: Origin,
                          batch_states: dict[str, LifecycleState] | None = None) -> str:
    """Returns the outcome: advanced, late, noted, refused, or parked (order not accepted yet).
    `batch_states`: what LIFECYCLE_STATES read for the consumer batch, if it did."""
    order_id = payload.order_id  # type: ignore[attr-defined]
    known = batch_states.get(order_id) if batch_states is not None else None
    if known is None:  # not read for the batch, or not accepted when it was read
        known = _LIFECYCLE_STATE.execute(session, {"oid": order_id}).one_or_none()
    if known is None:
        serialise_per_order(session, order_id)
        record = _lock_order(session, order_id)
        if record is None:
            _park(session, order_id, event_type, payload, now=now, origin=origin)
            return "parked"
        status, maybe_parked = record.status, True
    else:
        status, maybe_parked = known.status, known.has_parked
    # Normally none; catches a row parked while its order was being accepted (PostgreSQL).
    if maybe_parked and _apply_parked(session, order_id, now=now, publish=publish):
        status = _LOCKED_STATUS.execute(session, {"oid": order_id}).scalar_one()
    transition = _apply_to(session, order_id, status, event_type, payload, now=now, origin=origin, strict=True)
    if batch_states is not None:  # the next event of this order in the batch starts from here
        batch_states[order_id] = LifecycleState(transition.state, False)
    return transition.outcome


@dataclass(frozen=True)
class LifecycleState:
    status: str
    has_parked: bool


def load_lifecycle_states(session: Session, payloads: Sequence[Contract]) -> dict[str, LifecycleState]:
    """Read the state of every order a consumer batch of lifecycle events is about, in one
    statement instead of one per event (at peak every order's stock.reserved passes here; the
    read was one of the two statements each event ran, and on PostgreSQL each is a round trip).
    `apply_lifecycle_event` then starts from these and keeps them up to date as the batch's
    events move orders on; an order that was not accepted yet is read again when its event
    comes. Only valid while every change of status in
    the transaction goes through `apply_lifecycle_event` (a cancellation forgets its order), so
    the consumer calls this only in a batch's first, savepoint-free pass."""
    ids = sorted({p.order_id for p in payloads})  # type: ignore[attr-defined]
    states: dict[str, LifecycleState] = {}
    for chunk in in_list_chunks(ids):
        for row in _LIFECYCLE_STATES.execute(session, {"oids": chunk}).all():
            states[row.order_id] = LifecycleState(row.status, bool(row.has_parked))
    return states


LIFECYCLE_STATES: Prefetch[str, LifecycleState] = Prefetch("orders.lifecycle_states", load_lifecycle_states)


def _apply_to(session: Session, order_id: str, status: str, event_type: str, payload: Contract, *,
              now: datetime, origin: Origin, strict: bool) -> Transition:
    """One timeline row, and the new state when the event moves the order on. Plain statements:
    every order passes here several times at peak (the ORM object round trip was most of the
    lifecycle's time); `_lock_order` re-reads the row, so an ORM copy is never stale.

    A refund the order cannot have had (never shipped, or more than was paid) raises
    InvalidEvent when `strict` (the event is dead-lettered at once, nothing changes); applied
    from the parked events of an order being accepted, it is a refused step instead."""
    replacement = bool(getattr(payload, "replacement_for_case", None))
    refusal = _refund_refusal(session, order_id, status, payload) if event_type == "refund.issued" else ""
    if refusal and strict:
        raise InvalidEvent(f"refund.issued for order {order_id} refused: {refusal}")
    transition = Transition("refused", status, refusal) if refusal else apply_event(status, event_type,
                                                                                     replacement=replacement)
    at = getattr(payload, OCCURRED_AT_FIELD[event_type])
    step = TARGET.get(event_type, event_type.replace(".", "_"))
    if replacement:
        step = "replacement_shipped"
    note = "; ".join(p for p in (describe(event_type, payload), transition.reason) if p)
    add_step(session, order_id=order_id, status=step, outcome=transition.outcome, at=at, recorded_at=now,
             event_type=event_type, event_id=origin.event_id, actor=origin.actor, note=note)
    if transition.outcome == "advanced":
        _MOVE_ON.execute(session, {"oid": order_id, "new_status": transition.state, "changed_at": now})
    if event_type == "refund.issued" and transition.outcome != "refused":
        _ADD_REFUND.execute(session, {"oid": order_id, "cents": int(payload.amount * 100)})  # type: ignore[attr-defined]
    if transition.outcome == "refused":
        log.warning("refused %s for order %s (state %s): %s", event_type, order_id, status, transition.reason)
    return transition


def _refund_refusal(session: Session, order_id: str, status: str, payload: Any) -> str:
    row = _REFUND_STATE.execute(session, {"oid": order_id}).one()
    exception_reported = bool(row.exception_reported) or any(  # e.g. parked with the refund, not written yet
        r["order_id"] == order_id and r["event_type"] == "shipment.exception"
        for r in pending_rows(session, OrderStep.__table__))
    return refund_refusal(status, amount_cents=int(payload.amount * 100), paid_cents=row.paid_cents,
                          refunded_cents=row.refunded_cents, exception_reported=exception_reported)


_STEPS = OrderStep.__table__
_REFUND_STATE = FastStatement(
    select(_RECORDS.c.paid_cents, _RECORDS.c.refunded_cents,
           exists(select(_STEPS.c.id).where(_STEPS.c.order_id == _RECORDS.c.order_id,
                                            _STEPS.c.event_type == "shipment.exception")).label("exception_reported"))
    .where(_RECORDS.c.order_id == bindparam("oid")))
_ADD_REFUND = FastStatement(update(_RECORDS).where(_RECORDS.c.order_id == bindparam("oid"))
                            .values(refunded_cents=_RECORDS.c.refunded_cents + bindparam("cents")))


def _park(session: Session, order_id: str, event_type: str, payload: Contract, *, now: datetime,
          origin: Origin) -> None:
    field = OCCURRED_AT_FIELD.get(event_type)
    occurred = getattr(payload, field) if field else now
    session.add(OrderParkedEvent(order_id=order_id, event_id=origin.event_id or "", event_type=event_type,
                                 topic=origin.topic or origin.channel, payload_json=payload.model_dump_json(),
                                 occurred_at=occurred or now, parked_at=now, actor=origin.actor))
    log.info("parked %s for order %s: not accepted yet", event_type, order_id)


def _apply_parked(session: Session, order_id: str, *, now: datetime, publish: Publish) -> bool:
    """Apply, in the order they happened, the events that arrived before their order.
    Returns whether there were any."""
    if _ANY_PARKED_FAST.execute(session, {"oid": order_id}).first() is None:
        return False  # the usual case, answered without loading rows
    parked = session.exec(select(OrderParkedEvent).where(OrderParkedEvent.order_id == order_id)
                          .order_by(col(OrderParkedEvent.occurred_at), col(OrderParkedEvent.id))).all()
    for row in parked:
        payload = EVENT_MODELS[(row.event_type, 1)].model_validate_json(row.payload_json)
        origin = Origin(channel="parked", event_id=row.event_id, topic=row.topic, recorded_actor=row.actor or None)
        if row.event_type == CANCEL_REQUEST:
            cancel_order(session, order_id, payload.reason, now=now, publish=publish, origin=origin)  # type: ignore[attr-defined]
        else:
            record = _lock_order(session, order_id)
            assert record is not None
            _apply_to(session, order_id, record.status, row.event_type, payload, now=now, origin=origin, strict=False)
    if parked:
        session.exec(delete(OrderParkedEvent).where(OrderParkedEvent.order_id == order_id))  # type: ignore[call-overload]
    return bool(parked)


# ---------------------------------------------------------------------------------------------
# Cancellation (R4)


@dataclass(frozen=True)
class CancelResult:
    outcome: str  # cancelled | already_cancelled | refused | unknown | parked
    reason: str = ""


def cancel_order(session: Session, order_id: str, reason: str, *, now: datetime, publish: Publish,
                 origin: Origin, park_if_unknown: bool = False,
                 batch_states: dict[str, LifecycleState] | None = None) -> CancelResult:
    """Before dispatch: cancel and publish order.cancelled, on which inventory releases the stock
    and logistics withdraws the shipment. After dispatch: refuse, and say why on
    order.cancellation_refused."""
    record = _lock_order(session, order_id)
    if record is None and park_if_unknown:
        serialise_per_order(session, order_id)
        record = _lock_order(session, order_id)
    if record is None:
        if park_if_unknown:
            _park(session, order_id, CANCEL_REQUEST, OrderCancelled(order_id=order_id, reason=reason),
                  now=now, origin=origin)
            return CancelResult("parked")
        return CancelResult("unknown", f"no accepted order {order_id}")
    decision = decide_cancellation(record.status)
    if decision.already_cancelled:
        return CancelResult("already_cancelled")
    if not decision.allowed:
        add_step(session, order_id=order_id, status=CANCELLED, outcome="refused", at=now, recorded_at=now,
                 event_type=CANCEL_REQUEST, event_id=origin.event_id, actor=origin.actor,
                 note=f"via {origin.channel}: {decision.reason}")
        publish(ORDERS_EVENTS, "order.cancellation_refused",
                OrderCancellationRefused(order_id=order_id, reason=decision.reason,
                                         source_event_id=origin.event_id, refused_at=now), order_id)
        log.info("cancellation of %s refused: %s", order_id, decision.reason)
        return CancelResult("refused", decision.reason)
    if batch_states is not None:  # what the batch read of this order is out of date now
        batch_states.pop(order_id, None)
    record.status = CANCELLED
    record.status_changed_at = now
    session.add(record)
    add_step(session, order_id=order_id, status=CANCELLED, outcome="advanced", at=now, recorded_at=now,
             event_type=CANCEL_REQUEST, event_id=origin.event_id, actor=origin.actor,
             note=f"via {origin.channel}" + (f": {reason}" if reason else ""))
    publish(ORDERS_EVENTS, "order.cancelled", OrderCancelled(order_id=order_id, reason=reason, cancelled_at=now),
            order_id)
    return CancelResult("cancelled")


def serialise_per_order(session: Session, order_id: str) -> None:
    """Accepting an order and parking an event for it must not interleave, or the parked event
    would miss the acceptance that should apply it. SQLite's BEGIN IMMEDIATE already serialises
    writers; on PostgreSQL a transaction-scoped advisory lock per order id does it."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = (1 << 32) + zlib.crc32(f"orders:{order_id}".encode())  # above the 32-bit keys of migrations
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _lock_order(session: Session, order_id: str) -> OrderRecord | None:
    # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers. Fresh from
    # the database: _apply_to changes the row with plain statements.
    return session.get(OrderRecord, order_id, with_for_update=True, populate_existing=True)

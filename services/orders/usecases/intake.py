"""Intake (R1-R3): an order placed on platform.orders is accepted or rejected, once; POST /orders
submits one to platform.orders, the same way in as the platform's own."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from services.orders import domain, store
from services.orders.origin import Origin, content_hash, origin_of
from services.orders.usecases import holds
from services.orders.usecases.lifecycle import apply_parked
from services.orders.usecases.presale import open_deposit
from services.orders.usecases.promotions import check_promotions
from shared.contract_types import reason_text
from shared.envelope import data_field
from shared.event_registry import EVENT_MODELS
from shared.events import (OrderAccepted, OrderCancellationRefused, OrderCancellationRequested, OrderCancelled,
                           OrderPlaced, OrderRejected)
from shared.limits import ID_PATTERN
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def place_order(uow: UnitOfWork, order: OrderPlaced, *, policy: domain.OrderPolicy) -> str:
    """order.placed: accepted (order.accepted published, events parked for it applied), a
    harmless duplicate, or refused with order.rejected and the original dead-lettered: invalid
    (kept in order_rejection) or a re-send with other content (kept in order_conflict). Returns
    the outcome: accepted | duplicate | conflict | rejected. `policy`: the service's settings."""
    session = uow.session
    who = origin_of(uow)
    try:
        domain.validate_order(order, policy)
    except domain.OrderInvalid as exc:
        store.add_rejection(session, order.order_id, str(exc), now=uow.now, event_id=who.event_id)
        _reject(uow, str(exc))
        return "rejected"
    store.serialise_per_order(session, order.order_id)
    canonical = domain.content_json(order)
    digest = content_hash(canonical)
    # Under the per-order lock, nothing can be parked for this order until the commit.
    known = store.intake_state(session, order.order_id, who.event_id, digest)
    if known.submitted_by is not None:
        who = who.submitted_over_http(known.submitted_by)
    if known.accepted_content is not None:
        reason = _resend(uow, order, known.accepted_content, who)
        if reason:
            _reject(uow, reason)  # the conflict row is kept: dead_letter() commits
            return "conflict"
        return "duplicate"
    try:  # a new order only: a re-send must not use its own coupon a second time
        check_promotions(uow, order, claim=True)
    except domain.OrderInvalid as exc:
        store.add_rejection(session, order.order_id, str(exc), now=uow.now, event_id=who.event_id)
        _reject(uow, str(exc))
        return "rejected"

    now = uow.now
    klass = domain.priority_class(order, policy)
    due = domain.deposit_due(order, policy)  # a deposit presale's first payment: accepted, awaiting its balance
    accepted = OrderAccepted(
        order_id=order.order_id, customer_id=order.customer_id, order_type=order.order_type,
        priority_class=klass, priority_rank=domain.priority_rank(klass, order.paid_at, order.order_id),
        lines=order.lines, discount=order.discount, paid_amount=order.paid_amount, paid_at=order.paid_at,
        region=order.region, currency=order.currency, deposit=order.deposit,
        balance_paid_at=order.balance_paid_at, promotions=order.promotions, accepted_at=now,
        balance_due_by=due.due_by if due is not None else None, split_policy=order.split_policy,
    )
    flags = holds.screen_order(uow, order)  # R6 (abuse.py): a flagged order is kept, but held
    resumed = domain.AWAITING_BALANCE if due is not None else domain.ACCEPTED
    status = domain.HELD if flags else resumed
    store.add_order(session, {
        "order_id": order.order_id, "customer_id": order.customer_id, "order_type": order.order_type,
        "priority_class": klass, "priority_rank": accepted.priority_rank, "status": status,
        "paid_amount": order.paid_amount, "paid_cents": int(order.paid_amount * 100), "discount": order.discount,
        "currency": order.currency, "region": order.region, "paid_at": order.paid_at, "accepted_at": now,
        "status_changed_at": now, "content_json": canonical, "content_hash": digest, "refunded_cents": 0,
    })
    note = f"class {klass}, via {who.channel}" + holds.step_note(flags)
    if due is not None:
        open_deposit(uow, order, due)
        note += (f"; deposit {order.deposit} x {due.expansion} = {due.deposit_value} of {due.price}: balance "
                 f"{due.balance} due by {due.due_by.isoformat()}")
    store.add_step(session, order_id=order.order_id, status=status, outcome="advanced", at=now,
                   recorded_at=now, event_type=domain.PLACEMENT, event_id=who.event_id, actor=who.actor, note=note)
    if flags:  # order.held now; its order.accepted when released, the order then as it would have been
        holds.hold_order(uow, accepted, flags, resume_status=resumed)
    else:
        uow.publish(accepted, key=order.order_id)
    if known.has_parked:
        apply_parked(uow, order.order_id)
    return "accepted"


def _resend(uow: UnitOfWork, order: OrderPlaced, accepted_content: str, who: Origin) -> str:
    """`order` came again; `accepted_content` is what was accepted the first time. The same
    content is a harmless duplicate (''); other content is a conflict, kept for operators, and
    the accepted order stands (R3): returns the reason."""
    changes = domain.content_differences(json.loads(accepted_content), domain.order_content(order))
    if not changes:
        return ""
    reason = domain.conflict_reason(order.order_id, changes)
    store.add_conflict(uow.session, order_id=order.order_id, channel=who.channel, event_id=who.event_id,
                       source=who.source, changes=changes, content_json=domain.content_json(order), now=uow.now)
    log.warning("tampering attempt refused: %s", reason)
    return reason


@dataclass(frozen=True)
class Submission:
    outcome: str  # submitted | already_accepted | conflict
    event_id: str | None = None
    reason: str = ""


def submit_order(uow: UnitOfWork, order: OrderPlaced, *, policy: domain.OrderPolicy) -> Submission:
    """POST /orders: checked as the consumer will check it (raises domain.OrderInvalid), then
    order.placed goes to platform.orders, unless the order id was accepted already. The caller
    is recorded with the event's id so that the consumer names them, not the event's claimed
    source (origin.py)."""
    domain.validate_order(order, policy)
    session = uow.session
    who = origin_of(uow)
    accepted = store.accepted_content(session, order.order_id)
    if accepted is not None:
        reason = _resend(uow, order, accepted, who)
        return Submission("conflict", reason=reason) if reason else Submission("already_accepted")
    check_promotions(uow, order, claim=False)
    event_id = uow.publish(order, key=order.order_id)
    store.record_submission(session, event_id=event_id, order_id=order.order_id,
                            content_hash=content_hash(domain.content_json(order)), actor=who.actor, now=uow.now)
    return Submission("submitted", event_id=event_id)


# ---------------------------------------------------------------------------------------------
# Telling the platform why


def _reject(uow: UnitOfWork, reason: str) -> None:
    """order.rejected, and the bad original kept on the dead-letter topic."""
    _publish_rejection(uow, reason)
    uow.dead_letter(reason)


def answer_invalid_platform_message(uow: UnitOfWork, reason: str) -> None:
    """A platform message was dead-lettered before reaching a use case (not an event, or failing
    its contract); still tell the platform, on the event that answers what it asked for."""
    event = uow.event
    order_id = _readable_order_id(uow)
    asked = EVENT_MODELS.get((event.type, 1)) if event is not None else None
    if asked in (OrderCancellationRequested, OrderCancelled) and order_id:
        uow.publish(OrderCancellationRefused(order_id=order_id, reason=reason_text(reason),
                                             source_event_id=_event_id(uow), refused_at=uow.now), key=order_id)
        return
    if event is None or asked is OrderPlaced:
        store.add_rejection(uow.session, order_id, reason, now=uow.now, event_id=_event_id(uow))
    _publish_rejection(uow, reason)


def _publish_rejection(uow: UnitOfWork, reason: str) -> None:
    order_id = _readable_order_id(uow)
    uow.publish(OrderRejected(order_id=order_id, reason=reason_text(reason), source_event_id=_event_id(uow)),
                key=order_id or "unknown")


_ORDER_ID = re.compile(ID_PATTERN)


def _readable_order_id(uow: UnitOfWork) -> str | None:
    """The order id to echo, when it is a valid one. One the contract refuses (900 KB, a trailing
    space, a zero-width space) is not: as key and subject of the answer it would break the
    answer's own contract; the platform finds its answer by `source_event_id`."""
    order_id = data_field(uow.event, "order_id") if uow.event else None
    return order_id if isinstance(order_id, str) and _ORDER_ID.fullmatch(order_id) else None


def _event_id(uow: UnitOfWork) -> str | None:
    return uow.event.id if uow.event else None  # the envelope bounds it (200 characters)

"""An order's lifecycle as the other services report it, and its cancellation (R4-R6)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.orders import domain, store
from services.orders.origin import Origin, origin_of
from services.orders.store import LIFECYCLE_STATES, LifecycleState
from services.orders.usecases.presale import apply_parked_balance
from services.orders.usecases import holds
from shared.event_registry import publication_of
from shared.events import (Contract, OrderBalancePaid, OrderCancellationRefused, OrderCancellationRequested,
                           OrderCancelled)
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def apply_lifecycle_event(uow: UnitOfWork, payload: Contract) -> str:
    """A stock, shipment or aftersales event about an order. Returns the outcome: advanced,
    late, noted, refused, or parked (order not accepted yet); raises domain.EventRefused for a
    refund the order cannot have had. Starts from the consumer batch's read of the order's state
    when there is one (store.LIFECYCLE_STATES), and keeps it up to date."""
    session = uow.session
    order_id = payload.order_id  # type: ignore[attr-defined]
    # The type it was consumed as (what the registry names the payload's class): no lookup per event.
    event_type = uow.event.type if uow.event is not None else publication_of(payload).type
    states = uow.batch.read(LIFECYCLE_STATES)
    known = states.get(order_id) if states is not None else None
    if known is None:  # not read for the batch, or not accepted when it was read
        known = store.lifecycle_state(session, order_id)
    if known is None:
        store.serialise_per_order(session, order_id)
        status = store.lock_status(session, order_id)
        if status is None:
            _park(uow, order_id, event_type, payload, origin_of(uow))
            return "parked"
        maybe_parked = True
    else:
        status, maybe_parked = known.status, known.has_parked
    # Normally none; catches a row parked while its order was being accepted (PostgreSQL).
    if maybe_parked and apply_parked(uow, order_id):
        status = store.lock_status(session, order_id) or status
    transition = _apply(uow, order_id, status, event_type, payload, origin_of(uow), strict=True)
    if states is not None:  # the next event of this order in the batch starts from here
        states[order_id] = LifecycleState(transition.state, False)
    return transition.outcome


def _apply(uow: UnitOfWork, order_id: str, status: str, event_type: str, payload: Contract, who: Origin, *,
           strict: bool) -> domain.Transition:
    """One timeline row, and the new state when the event moves the order on."""
    session, now = uow.session, uow.now
    refund = store.refund_facts(session, order_id) if event_type == domain.REFUND else None
    transition = domain.decide_event(order_id, status, event_type, payload, refund, strict=strict)
    label, at, note = domain.timeline_step(event_type, payload, transition)
    store.add_step(session, order_id=order_id, status=label, outcome=transition.outcome, at=at, recorded_at=now,
                   event_type=event_type, event_id=who.event_id, actor=who.actor, note=note)
    if transition.outcome == "advanced":
        store.save_status(session, order_id, transition.state, now)
        if transition.state == domain.NEEDS_ATTENTION:  # stock.sku_unknown: kept with its reason (holds.py)
            holds.note_attention(uow, order_id, payload)
    if refund is not None and transition.outcome != "refused":
        store.add_refund(session, order_id, domain.refund_cents(payload))
    if transition.outcome == "refused":
        log.warning("refused %s for order %s (state %s): %s", event_type, order_id, status, transition.reason)
    return transition


def _park(uow: UnitOfWork, order_id: str, event_type: str, payload: Contract, who: Origin) -> None:
    field = domain.OCCURRED_AT_FIELD.get(event_type)
    occurred = getattr(payload, field) if field else None
    store.park(uow.session, order_id=order_id, event_id=who.event_id or "", event_type=event_type,
               topic=who.topic or who.channel, payload=payload, occurred_at=occurred or uow.now, now=uow.now,
               actor=who.actor)
    log.info("parked %s for order %s: not accepted yet", event_type, order_id)


def apply_parked(uow: UnitOfWork, order_id: str) -> bool:
    """Apply, in the order they happened, the events that arrived before their order; each keeps
    the actor it arrived with. Returns whether there were any."""
    session = uow.session
    if not store.any_parked(session, order_id):
        return False  # the usual case, answered without loading rows
    parked = store.parked_events(session, order_id)
    for row, payload in parked:
        who = Origin(channel="parked", event_id=row.event_id, topic=row.topic, recorded_actor=row.actor or None)
        status = store.lock_status(session, order_id)
        assert status is not None  # the order being accepted, or the one an event is about
        if isinstance(payload, (OrderCancelled, OrderCancellationRequested)):
            _cancel(uow, order_id, status, payload.reason, who)
        elif isinstance(payload, OrderBalancePaid):
            apply_parked_balance(uow, payload, who)
        else:
            _apply(uow, order_id, status, row.event_type, payload, who, strict=False)
    if parked:
        store.forget_parked(session, order_id)
    return bool(parked)


# ---------------------------------------------------------------------------------------------
# Cancellation (R4)


@dataclass(frozen=True)
class CancelOrder:
    """POST /orders/{order_id}/cancel: the order named by the path, the reason from the body."""

    order_id: str
    reason: str = ""


@dataclass(frozen=True)
class CancelResult:
    outcome: str  # cancelled | already_cancelled | refused | unknown | parked
    reason: str = ""


def cancel_order(uow: UnitOfWork, request: CancelOrder) -> CancelResult:
    """Over HTTP: an unknown order is `unknown` (the caller hears 404)."""
    status = store.lock_status(uow.session, request.order_id)
    if status is None:
        return CancelResult("unknown", f"no accepted order {request.order_id}")
    return _cancel(uow, request.order_id, status, request.reason, origin_of(uow))


def request_cancellation(uow: UnitOfWork, request: OrderCancellationRequested | OrderCancelled) -> CancelResult:
    """The platform asks on platform.orders (by either name): a request for an order not
    accepted yet is parked like any event that overtook its order."""
    session, order_id = uow.session, request.order_id
    status = store.lock_status(session, order_id)
    if status is None:
        store.serialise_per_order(session, order_id)
        status = store.lock_status(session, order_id)
    if status is None:
        _park(uow, order_id, domain.CANCEL_REQUEST, OrderCancelled(order_id=order_id, reason=request.reason),
              origin_of(uow))
        return CancelResult("parked")
    return _cancel(uow, order_id, status, request.reason, origin_of(uow))


def _cancel(uow: UnitOfWork, order_id: str, status: str, reason: str, who: Origin) -> CancelResult:
    """Before dispatch: cancel and publish order.cancelled, on which inventory releases the stock
    and logistics withdraws the shipment. After dispatch: refuse, and say why on
    order.cancellation_refused. `status`: the order's, its row locked."""
    session, now = uow.session, uow.now
    decision = domain.decide_cancellation(status)
    if decision.already_cancelled:
        return CancelResult("already_cancelled")
    if decision.new_state is None:
        store.add_step(session, order_id=order_id, status=domain.CANCELLED, outcome="refused", at=now,
                       recorded_at=now, event_type=domain.CANCEL_REQUEST, event_id=who.event_id, actor=who.actor,
                       note=f"via {who.channel}: {decision.reason}")
        uow.publish(OrderCancellationRefused(order_id=order_id, reason=decision.reason, source_event_id=who.event_id,
                                             refused_at=now), key=order_id)
        log.info("cancellation of %s refused: %s", order_id, decision.reason)
        return CancelResult("refused", decision.reason)
    states = uow.batch.read(LIFECYCLE_STATES)
    if states is not None:  # what the batch read of this order is out of date now
        states.pop(order_id, None)
    store.save_status(session, order_id, decision.new_state, now)
    store.add_step(session, order_id=order_id, status=domain.CANCELLED, outcome="advanced", at=now, recorded_at=now,
                   event_type=domain.CANCEL_REQUEST, event_id=who.event_id, actor=who.actor,
                   note=f"via {who.channel}" + (f": {reason}" if reason else ""))
    uow.publish(OrderCancelled(order_id=order_id, reason=reason, cancelled_at=now), key=order_id)
    return CancelResult("cancelled")

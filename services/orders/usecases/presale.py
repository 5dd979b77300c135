"""Deposit presale (R1): a deposit's balance paid over Kafka (`order.balance_paid`) or HTTP
(POST /orders/{id}/balance), and the window job closing the orders whose balance never came.
The rules are in presale.py; the deposit itself is accepted by intake.place_order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.orders import domain, presale, store
from services.orders.origin import Origin, origin_of
from services.orders.store import LIFECYCLE_STATES
from services.orders.store import presale as presale_store
from shared.contract_types import reason_text
from shared.events import (OrderBalancePaid, OrderBalanceReceived, OrderCancelled, OrderDepositForfeited,
                           OrderPlaced, OrderRejected)
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

BALANCE = "order.balance_paid"
FORFEIT = "order.deposit_forfeited"


def open_deposit(uow: UnitOfWork, order: OrderPlaced, due: presale.BalanceDue) -> None:
    """The deposit was accepted (intake.place_order): keep the terms its balance is checked by."""
    presale_store.add_terms(uow.session, order_id=order.order_id, deposit=order.deposit,  # type: ignore[arg-type]
                            deposit_paid_at=order.paid_at, due=due)


@dataclass(frozen=True)
class BalanceResult:
    outcome: str  # received | duplicate | refused | unknown | parked
    refusal: presale.Refusal = ""
    reason: str = ""
    received: Balance | None = None  # the balance received (this time, or the first time for a duplicate)


@dataclass(frozen=True)
class Balance:
    balance_amount: Decimal
    paid_amount: Decimal
    balance_paid_at: datetime
    priority_rank: str
    state: str


def receive_balance(uow: UnitOfWork, payment: OrderBalancePaid) -> str:
    """order.balance_paid on platform.orders. A refused balance is answered with order.rejected
    (its reason, `source_event_id` this event) and dead-lettered, as intake does with an order;
    one for an order not accepted yet is parked and applied when the order is (usecases/lifecycle.py).
    Returns the outcome."""
    result = _settle(uow, payment, origin_of(uow), park_unknown=True)
    if result.outcome == "refused":
        _answer_refusal(uow, payment.order_id, result.reason, uow.event.id if uow.event else None)
        uow.dead_letter(result.reason)
    return result.outcome


def pay_balance(uow: UnitOfWork, payment: OrderBalancePaid) -> BalanceResult:
    """POST /orders/{id}/balance: the same rules; the caller hears a refusal as a problem
    (api_presale.py), and the order is closed by a late balance all the same."""
    return _settle(uow, payment, origin_of(uow), park_unknown=False)


def apply_parked_balance(uow: UnitOfWork, payment: OrderBalancePaid, who: Origin) -> None:
    """A balance that came before its deposit was accepted, applied now (in the deposit's
    transaction, or at the order's next event). A refusal is told on order.rejected; the
    original cannot be dead-lettered any more (its own transaction committed when it was parked)."""
    result = _settle(uow, payment, who, park_unknown=False)
    if result.outcome == "refused":
        _answer_refusal(uow, payment.order_id, result.reason, who.event_id)


def _settle(uow: UnitOfWork, payment: OrderBalancePaid, who: Origin, *, park_unknown: bool) -> BalanceResult:
    session, order_id, now = uow.session, payment.order_id, uow.now
    status = store.lock_status(session, order_id)
    if status is None:
        store.serialise_per_order(session, order_id)  # not interleaved with the deposit's acceptance
        status = store.lock_status(session, order_id)
    if status is None:
        if not park_unknown:
            return BalanceResult("unknown", "unknown", f"no accepted order {order_id}")
        store.park(session, order_id=order_id, event_id=who.event_id or "", event_type=BALANCE,
                   topic=who.topic or who.channel, payload=payment, occurred_at=payment.paid_at, now=now, actor=who.actor)
        log.info("parked the balance of order %s: its deposit is not accepted yet", order_id)
        return BalanceResult("parked")
    facts = presale_store.facts(session, order_id)
    order = presale_store.order_facts(session, order_id)
    decision = presale.decide_balance(order_id, status, facts, amount=payment.balance_amount, paid_at=payment.paid_at,
                                      now=now, order_type=order.order_type)
    if decision.outcome == "duplicate":  # the same payment told twice: nothing to do
        assert facts is not None and facts.balance_amount is not None and facts.balance_paid_at is not None
        return BalanceResult("duplicate", received=Balance(facts.balance_amount, order.paid_amount,
                                                           facts.balance_paid_at, order.priority_rank, status))
    if decision.outcome == "refuse":
        store.add_step(session, order_id=order_id, status="balance_paid", outcome="refused", at=payment.paid_at,
                       recorded_at=now, event_type=BALANCE, event_id=who.event_id, actor=who.actor,
                       note=f"{payment.balance_amount} via {who.channel}: {decision.reason}")
        log.warning("balance refused: %s", decision.reason)
        if decision.closes_order and facts is not None and status == presale.AWAITING_BALANCE:
            _close(uow, order_id, order.customer_id, facts.deposit, facts.due_by, who)
        return BalanceResult("refused", decision.refusal, decision.reason)
    assert facts is not None  # a balance is only received for a deposit order
    state = domain.state_after_balance(presale_store.stock_events(session, order_id))
    rank = domain.priority_rank("presale", payment.paid_at, order_id)
    paid = facts.deposit + payment.balance_amount
    presale_store.record_balance(session, order_id, amount=payment.balance_amount, paid_at=payment.paid_at,
                                 event_id=who.event_id, now=now)
    presale_store.settle_order(session, order_id, status=state, priority_rank=rank, paid_amount=paid, now=now)
    _forget_batch_read(uow, order_id)
    store.add_step(session, order_id=order_id, status=state, outcome="advanced", at=payment.paid_at, recorded_at=now,
                   event_type=BALANCE, event_id=who.event_id, actor=who.actor,
                   note=f"balance {payment.balance_amount} received via {who.channel} (deposit {facts.deposit} x "
                        f"{facts.expansion} = {facts.deposit_value}); paid {paid} in all; ranked by the balance time")
    received = OrderBalanceReceived(order_id=order_id, balance_amount=payment.balance_amount, paid_amount=paid,
                                    balance_paid_at=payment.paid_at, priority_rank=rank, received_at=now)
    uow.publish(received, key=order_id)
    return BalanceResult("received", received=Balance(payment.balance_amount, paid, payment.paid_at, rank, state))


def _answer_refusal(uow: UnitOfWork, order_id: str, reason: str, event_id: str | None) -> None:
    uow.publish(OrderRejected(order_id=order_id, reason=reason_text(reason), source_event_id=event_id), key=order_id)


def _forget_batch_read(uow: UnitOfWork, order_id: str) -> None:
    states = uow.batch.read(LIFECYCLE_STATES)
    if states is not None:  # what a batch read of this order is out of date now
        states.pop(order_id, None)


# ---------------------------------------------------------------------------------------------
# The balance window


def _close(uow: UnitOfWork, order_id: str, customer_id: str, deposit: object, due_by: object, who: Origin) -> None:
    """Close an order still awaiting its balance (its row locked): `balance_unpaid`, the platform
    told the deposit is forfeited, and order.cancelled so that inventory releases the stock and
    logistics withdraws anything it prepared."""
    session, now = uow.session, uow.now
    reason = presale.forfeit_reason(due_by)  # type: ignore[arg-type]
    store.save_status(session, order_id, presale.BALANCE_UNPAID, now)
    presale_store.mark_closed(session, order_id, now)
    _forget_batch_read(uow, order_id)
    store.add_step(session, order_id=order_id, status=presale.BALANCE_UNPAID, outcome="advanced", at=now,
                   recorded_at=now, event_type=FORFEIT, event_id=None, actor=who.actor,
                   note=f"{reason}; deposit {deposit} forfeited (what becomes of it is the platform's policy)")
    uow.publish(OrderDepositForfeited(order_id=order_id, customer_id=customer_id, deposit=deposit,  # type: ignore[arg-type]
                                      balance_due_by=due_by, closed_at=now), key=order_id)  # type: ignore[arg-type]
    uow.publish(OrderCancelled(order_id=order_id, reason=reason, cancelled_at=now), key=order_id)
    log.info("order %s closed balance_unpaid: %s", order_id, reason)


def close_overdue_deposits(uow: UnitOfWork, *, limit: int) -> int:
    """One batch of the window job: up to `limit` orders still awaiting their balance past their
    window (and its grace) are closed, in this unit of work. Returns how many."""
    who = origin_of(uow)
    closed = 0
    for row in presale_store.overdue(uow.session, uow.now, limit):
        # Locked with the read: a balance received meanwhile changed the status, and is not undone.
        if presale.is_overdue(row.status, row.closes_at, uow.now):
            _close(uow, row.order_id, row.customer_id, row.deposit, row.balance_due_by, who)
            closed += 1
    return closed

"""The aftersales use cases, one per message: keep what orders and logistics report, open cases,
move them through their steps. Each reads load -> decide -> save -> publish inside the caller's
unit of work, so a case's state and the event telling the other services change together."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.aftersales import cases, presale, store
from services.aftersales.cases import Case, CaseChange, CaseKind, CaseLine, CaseNotFound
from services.aftersales.domain import (
    GiftPolicy,
    Purchase,
    PurchasedLine,
    SpendThreshold,
    check_described,
    check_returnable,
    check_window,
    is_first_delivery,
    plan_request,
    refund_amount,
    with_paid_amounts,
)
from services.aftersales.models import PurchaseRecord
from services.aftersales.schemas import ReturnRequest
from shared.events import (
    ExchangeRequested,
    OrderAccepted,
    OrderBalanceReceived,
    OrderLine,
    RefundIssued,
    ReturnApproved,
    ReturnArrived,
    ReturnLine,
    ReturnReceived,
    ReturnRejected,
    ReturnRequested,
    ShipmentDelivered,
    ShipmentException,
)
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseStep:
    """An agent's step on a case: `note` is the agent's words (a rejection's reason);
    `passed` is an inspection's result and means nothing to the other steps."""

    case_id: str
    note: str = ""
    passed: bool = False


# ---------------------------------------------------------------------------------------------
# What arrives from orders and logistics


def record_order_accepted(uow: UnitOfWork, accepted: OrderAccepted) -> None:
    """Keep the lines with the paid amount per line. Raises ValueError when the amounts cannot be
    split (handlers.py dead-letters the event). A second copy changes nothing."""
    record = store.get_purchase_record(uow.session, accepted.order_id)
    if record is not None and record.accepted:
        return
    lines = [PurchasedLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                           gift_for_sku=line.gift_for_sku) for line in accepted.lines]
    thresholds = [SpendThreshold(threshold=p.threshold, amount=p.amount) for p in accepted.promotions
                  if p.kind == "spend_threshold" and p.threshold is not None]
    purchase = with_paid_amounts(accepted.order_id, lines, accepted.paid_amount, thresholds)
    deposit = presale.deposit_of(accepted.paid_amount, accepted.balance_due_by)
    balance = store.kept_balance(record)
    if balance is not None:
        purchase = _with_early_balance(uow, record, purchase, deposit, balance)
    store.save_accepted_order(uow.session, record, accepted, purchase, deposit)


def _with_early_balance(uow: UnitOfWork, record: PurchaseRecord, purchase: Purchase, deposit: Decimal | None,
                        balance: presale.Balance) -> Purchase:
    """A balance that came before order.accepted: applied now, or, when it does not fit the
    order, forgotten (a corrected one can still come) and dead-lettered with the reason, the
    order recorded at its deposit."""
    try:
        paid = presale.paid_after_balance(purchase.order_id, presale.check_awaits_balance(purchase.order_id, deposit),
                                          balance)
        return with_paid_amounts(purchase.order_id, purchase.lines, paid, purchase.thresholds)
    except ValueError as exc:
        store.keep_balance(uow.session, record, purchase.order_id, None)
        uow.dead_letter(f"the balance received before order {purchase.order_id} was not applied "
                        f"(refunds stay bounded by {purchase.paid_amount}): {exc}")
        return purchase


def record_balance_received(uow: UnitOfWork, event: OrderBalanceReceived) -> str:
    """order.balance_received: what a deposit presale paid becomes deposit + balance, so refunds
    follow it (R23); kept when the order's details have not arrived yet. A repeat changes
    nothing; a second balance with other content is dead-lettered. Raises ValueError (handlers.py
    dead-letters the event, nothing changes) when it does not fit the order."""
    session, order_id = uow.session, event.order_id
    received = presale.Balance(event.balance_amount, event.paid_amount, event.balance_paid_at)
    record = store.get_purchase_record(session, order_id, for_update=True)
    kept = store.kept_balance(record)
    if kept is not None:
        if not presale.is_same_balance(kept, received):
            uow.dead_letter(f"order {order_id}: a balance of {kept.balance_amount} paid at "
                            f"{kept.balance_paid_at.isoformat()} was received already; this one differs and is ignored")
        return "duplicate"
    if record is None or not record.accepted:
        store.keep_balance(session, record, order_id, received)
        return "kept until order.accepted"
    paid = presale.paid_after_balance(order_id, presale.check_awaits_balance(order_id, record.deposit), received)
    _, purchase = store.load_purchase(session, order_id)
    after = with_paid_amounts(order_id, purchase.lines, paid, purchase.thresholds)
    store.keep_balance(session, record, order_id, received)
    store.save_paid(session, record, after)
    return "applied"


def record_delivery(uow: UnitOfWork, delivered: ShipmentDelivered) -> None:
    """May arrive before order.accepted; only the first delivery counts for the window."""
    record = store.get_purchase_record(uow.session, delivered.order_id)
    if record is None or is_first_delivery(record.delivered_at, delivered.delivered_at):
        store.save_delivery(uow.session, record, delivered.order_id, delivered.delivered_at, delivered.shipment_id)


def open_exception_case(uow: UnitOfWork, exception: ShipmentException) -> Case | None:
    """One open case per shipment and exception kind: the same report twice opens one case."""
    if store.exception_case_open(uow.session, exception.order_id, exception.shipment_id, exception.kind):
        return None
    opened = cases.open_case(
        _new_case_id(), exception.order_id, CaseKind.SHIPMENT_EXCEPTION, uow.now,
        reason=f"shipment {exception.shipment_id} {exception.kind}: {exception.note}".rstrip(": "),
        shipment_id=exception.shipment_id, exception_kind=exception.kind)
    store.add_case(uow.session, opened)
    log.info("opened %s for order %s: shipment %s %s", opened.case.case_id, exception.order_id,
             exception.shipment_id, exception.kind)
    return opened.case


# ---------------------------------------------------------------------------------------------
# Return and exchange requests (R19, R20)


def request_return(uow: UnitOfWork, request: ReturnRequest, policy: GiftPolicy) -> Case:
    record, purchase = store.load_purchase(uow.session, request.order_id, for_update=True)
    delivered_at = check_returnable(request.order_id, record)
    check_window(request.order_id, delivered_at, uow.now)
    holdings, _ = cases.holdings_of(store.cases_of_order(uow.session, request.order_id))
    kind = CaseKind(request.kind)
    planned = plan_request(purchase, holdings, kind, [(line.sku, line.quantity) for line in request.lines], policy)
    opened = cases.open_case(_new_case_id(), request.order_id, kind, uow.now, reason=request.reason,
                             dispute=request.dispute)
    store.add_case(uow.session, opened, [CaseLine(sku=line.sku, quantity=quantity, gift=line.gift,
                                                  added_by_gift_rule=by_rule) for line, quantity, by_rule in planned])
    uow.publish(ReturnRequested(
        case_id=opened.case.case_id, order_id=request.order_id, kind=kind.value, reason=request.reason,
        requested_at=uow.now,
        lines=[ReturnLine(sku=line.sku, quantity=quantity, gift=line.gift) for line, quantity, _ in planned]),
        key=request.order_id)
    return opened.case


def _new_case_id() -> str:
    return f"CASE-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------------------------
# Case steps: each an agent's action and an event


def approve(uow: UnitOfWork, step: CaseStep) -> Case:
    return _take_step(uow, step.case_id, lambda case: cases.approve(case, uow.now, step.note),
                      lambda case: ReturnApproved(case_id=case.case_id, order_id=case.order_id,
                                                  kind=case.kind.value, approved_at=uow.now))


def receive(uow: UnitOfWork, step: CaseStep) -> Case:
    return _take_step(uow, step.case_id, lambda case: cases.receive(case, uow.now, step.note),
                      lambda case: ReturnArrived(case_id=case.case_id, order_id=case.order_id,
                                                 lines=_return_lines(store.case_lines(uow.session, case.case_id)),
                                                 arrived_at=uow.now))


def inspect(uow: UnitOfWork, step: CaseStep) -> Case:
    """Publishes return.received with the inspection result: inventory restocks only when passed (R23)."""
    return _take_step(uow, step.case_id, lambda case: cases.inspect(case, step.passed, uow.now, step.note),
                      lambda case: ReturnReceived(case_id=case.case_id, order_id=case.order_id,
                                                  lines=_return_lines(store.case_lines(uow.session, case.case_id)),
                                                  inspection_passed=step.passed, received_at=uow.now))


def refund(uow: UnitOfWork, step: CaseStep) -> Case:
    """R23: refunds what was paid for the case's lines after discounts."""
    case = _locked_case(uow, step.case_id)
    cases.check_refund(case)
    lines = _decided_lines(uow, case)
    record, purchase = store.load_purchase(uow.session, case.order_id)
    check_described(case.order_id, record)
    holdings, refunded_so_far = cases.holdings_of(store.cases_of_order(uow.session, case.order_id))
    amount = refund_amount(purchase, holdings, refunded_so_far, cases.units_by_sku(lines))
    change = cases.refund(case, amount, uow.now, step.note)
    store.save_case(uow.session, change)
    uow.publish(RefundIssued(case_id=case.case_id, order_id=case.order_id, amount=amount, issued_at=uow.now),
                key=case.order_id)
    return change.case


def exchange(uow: UnitOfWork, step: CaseStep) -> Case:
    """Asks logistics for a replacement of the case's lines (gifts are never exchanged)."""
    case = _locked_case(uow, step.case_id)
    cases.check_exchange(case)
    lines = _decided_lines(uow, case)
    record = store.get_purchase_record(uow.session, case.order_id)
    by_sku = {line.sku: line for line in store.purchase_lines(uow.session, case.order_id) if not line.gift}
    replacement = [OrderLine(sku=line.sku, quantity=line.quantity, unit_price=by_sku[line.sku].unit_price,
                             weight_kg=by_sku[line.sku].weight_kg, volume_l=by_sku[line.sku].volume_l)
                   for line in lines if not line.gift and line.sku in by_sku]
    change = cases.exchange(case, uow.now, step.note)
    store.save_case(uow.session, change)
    uow.publish(ExchangeRequested(case_id=case.case_id, order_id=case.order_id, lines=replacement,
                                  region=(record.region if record else None) or "", requested_at=uow.now),
                key=case.order_id)
    return change.case


def reject(uow: UnitOfWork, step: CaseStep) -> Case:
    """The step's note is the reason the customer is given."""
    return _take_step(uow, step.case_id, lambda case: cases.reject(case, step.note, uow.now),
                      lambda case: ReturnRejected(case_id=case.case_id, order_id=case.order_id, reason=step.note,
                                                  rejected_at=uow.now))


def mark_dispute(uow: UnitOfWork, step: CaseStep) -> Case:
    """R22: escalated; it goes to the head of the queue. Nothing is published."""
    return _take_step(uow, step.case_id, lambda case: cases.escalate(case, uow.now, step.note))


def _take_step(uow: UnitOfWork, case_id: str, decide: Callable[[Case], CaseChange],
               tell: Callable[[Case], Any] | None = None) -> Case:
    """The shape of a plain step: lock the case, let the domain decide, save, and publish what
    `tell` makes of the case (keyed by order, so a case's events stay in order)."""
    case = _locked_case(uow, case_id)
    change = decide(case)
    store.save_case(uow.session, change)
    if tell is not None:
        uow.publish(tell(case), key=case.order_id)
    return change.case


def _locked_case(uow: UnitOfWork, case_id: str) -> Case:
    case = store.get_case(uow.session, case_id, for_update=True)
    if case is None:
        raise CaseNotFound(case_id)
    return case


def _decided_lines(uow: UnitOfWork, case: Case) -> list[CaseLine]:
    """The lines a refund or exchange is for: a shipment-exception case's are fixed now, as
    whatever of the order the customer still has."""
    if case.kind is not CaseKind.SHIPMENT_EXCEPTION:
        return store.case_lines(uow.session, case.case_id)
    _, purchase = store.load_purchase(uow.session, case.order_id)
    holdings, _ = cases.holdings_of(store.cases_of_order(uow.session, case.order_id))
    lines = cases.everything_kept(purchase, holdings)
    store.add_case_lines(uow.session, case.case_id, lines)
    return lines


def _return_lines(lines: list[CaseLine]) -> list[ReturnLine]:
    return [ReturnLine(sku=line.sku, quantity=line.quantity, gift=line.gift) for line in lines]

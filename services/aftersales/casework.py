"""The use cases: record what arrives from other services, open cases, move them through their
steps. Each runs inside the caller's transaction and publishes through the outbox (`publish`), so
a case's state and the event telling the other services change together."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, select

from services.aftersales import store
from services.aftersales.domain import (
    CaseKind,
    CaseStatus,
    GiftPolicy,
    PurchasedLine,
    ReturnRefused,
    SpendThreshold,
    case_deadline,
    check_transition,
    is_handling_decision,
    plan_request,
    refund_amount,
    return_window_closes_at,
    with_paid_amounts,
    within_return_window,
)
from services.aftersales.models import AftersalesCase, AftersalesCaseLine, PurchaseLineRecord, PurchaseRecord
from shared.events import (
    Contract,
    ExchangeRequested,
    OrderAccepted,
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

Publish = Callable[[str, Contract, str], None]
"""(event type, payload, key) -> adds the event to the outbox on aftersales.cases."""


class CaseNotFound(LookupError):
    pass


class OrderNotReturnable(ValueError):
    """The order is unknown, not delivered or not yet described; `kind` picks the status code."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# What arrives from orders and logistics


def record_order_accepted(session: Session, accepted: OrderAccepted) -> None:
    """Keep the lines with the paid amount per line. Raises ValueError when the amounts cannot be
    split (the caller dead-letters the event). A second copy changes nothing."""
    record = store.get_purchase_record(session, accepted.order_id)
    if record is not None and record.accepted:
        return
    lines = [PurchasedLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                           gift_for_sku=line.gift_for_sku) for line in accepted.lines]
    thresholds = [SpendThreshold(threshold=p.threshold, amount=p.amount) for p in accepted.promotions
                  if p.kind == "spend_threshold" and p.threshold is not None]
    purchase = with_paid_amounts(accepted.order_id, lines, accepted.paid_amount, thresholds)
    if record is None:
        record = PurchaseRecord(order_id=accepted.order_id)  # delivery may already be known, or not yet
    record.accepted = True
    record.customer_id = accepted.customer_id
    record.region = accepted.region
    record.currency = accepted.currency
    record.paid_amount = accepted.paid_amount
    record.discount = accepted.discount
    record.thresholds_json = json.dumps([{"threshold": f"{t.threshold:.2f}", "amount": f"{t.amount:.2f}"}
                                         for t in thresholds])
    session.add(record)
    for line_no, (line, source) in enumerate(zip(purchase.lines, accepted.lines)):
        session.add(PurchaseLineRecord(order_id=accepted.order_id, line_no=line_no, sku=line.sku,
                                       quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                                       gift_for_sku=line.gift_for_sku, paid=line.paid,
                                       weight_kg=source.weight_kg, volume_l=source.volume_l))


def record_delivery(session: Session, delivered: ShipmentDelivered) -> None:
    """The window runs from the first delivery; a later one (a replacement) does not reopen it.
    May arrive before order.accepted."""
    record = store.get_purchase_record(session, delivered.order_id) or PurchaseRecord(order_id=delivered.order_id)
    known = store.utc(record.delivered_at)
    if known is None or delivered.delivered_at < known:
        record.delivered_at = delivered.delivered_at
        record.delivered_shipment_id = delivered.shipment_id
    session.add(record)


def open_exception_case(session: Session, exception: ShipmentException, now: datetime) -> AftersalesCase | None:
    """One open case per shipment and exception kind: the same report twice opens one case."""
    existing = session.exec(select(AftersalesCase).where(
        AftersalesCase.order_id == exception.order_id, AftersalesCase.shipment_id == exception.shipment_id,
        AftersalesCase.exception_kind == exception.kind,
        AftersalesCase.status.in_(store.OPEN_STATUSES))).first()  # type: ignore[attr-defined]
    if existing is not None:
        return None
    case = _new_case(session, exception.order_id, CaseKind.SHIPMENT_EXCEPTION, now,
                     reason=f"shipment {exception.shipment_id} {exception.kind}: {exception.note}".rstrip(": "))
    case.shipment_id = exception.shipment_id
    case.exception_kind = exception.kind
    session.add(case)
    return case


# ---------------------------------------------------------------------------------------------
# Return and exchange requests (R19, R20)


@dataclass
class Returnable:
    record: PurchaseRecord
    lines: list[PurchaseLineRecord]


def returnable_order(session: Session, order_id: str, now: datetime, *, for_update: bool = False) -> Returnable:
    record = store.get_purchase_record(session, order_id, for_update=for_update)
    if record is None:
        raise OrderNotReturnable("unknown_order", f"order {order_id} is not known to aftersales")
    if record.delivered_at is None:
        raise OrderNotReturnable("not_delivered", f"order {order_id} has not been delivered yet; "
                                                  "returns open when the goods arrive (R19)")
    if not record.accepted:
        raise OrderNotReturnable("not_described", f"order {order_id} was delivered but its order details have "
                                                  "not reached aftersales yet; try again shortly")
    return Returnable(record, store.purchase_lines(session, order_id))


def check_window(record: PurchaseRecord, now: datetime) -> None:
    delivered_at = store.utc(record.delivered_at)
    if not within_return_window(delivered_at, now):
        raise ReturnRefused("window_closed", (
            f"the seven-day return window of order {record.order_id} closed at "
            f"{return_window_closes_at(delivered_at).isoformat()} (delivered {delivered_at.isoformat()}, R19)"))


def request_return(session: Session, *, order_id: str, kind: CaseKind, lines: list[tuple[str, int]], reason: str,
                   dispute: bool, now: datetime, policy: GiftPolicy, publish: Publish) -> AftersalesCase:
    order = returnable_order(session, order_id, now, for_update=True)
    check_window(order.record, now)
    purchase = store.to_purchase(order.record, order.lines)
    holdings, _ = store.holdings_of(session, order_id)
    planned = plan_request(purchase, holdings, kind, lines, policy)
    case = _new_case(session, order_id, kind, now, reason=reason, dispute=dispute)
    for line, quantity, by_rule in planned:
        session.add(AftersalesCaseLine(case_id=case.case_id, sku=line.sku, quantity=quantity, gift=line.gift,
                                       added_by_gift_rule=by_rule))
    publish("return.requested", ReturnRequested(
        case_id=case.case_id, order_id=order_id, kind=kind.value, reason=reason, requested_at=now,
        lines=[ReturnLine(sku=line.sku, quantity=quantity, gift=line.gift) for line, quantity, _ in planned]),
        order_id)
    return case


def _new_case(session: Session, order_id: str, kind: CaseKind, now: datetime, *, reason: str = "",
              dispute: bool = False) -> AftersalesCase:
    case = AftersalesCase(case_id=f"CASE-{uuid.uuid4().hex[:12]}", order_id=order_id, kind=kind.value,
                          status=CaseStatus.REQUESTED.value, dispute=dispute, reason=reason, opened_at=now,
                          deadline_at=case_deadline(now))
    session.add(case)
    store.add_step(session, case.case_id, CaseStatus.REQUESTED.value, now,
                   note=("dispute; " if dispute else "") + reason)
    return case


# ---------------------------------------------------------------------------------------------
# Refund figures (R23)


def refund_preview(session: Session, order_id: str, returning: dict[str, int]) -> Decimal:
    record = store.get_purchase_record(session, order_id)
    if record is None or not record.accepted:
        raise OrderNotReturnable("unknown_order", f"order {order_id} is not known to aftersales")
    purchase = store.to_purchase(record, store.purchase_lines(session, order_id))
    holdings, refunded_total = store.holdings_of(session, order_id)
    return refund_amount(purchase, holdings, refunded_total, returning)


def _quantities(lines: list[AftersalesCaseLine]) -> dict[str, int]:
    quantities: dict[str, int] = {}
    for line in lines:
        quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    return quantities


def _take_back_everything_kept(session: Session, case: AftersalesCase) -> list[AftersalesCaseLine]:
    """A shipment-exception case refunds or replaces whatever of the order the customer still has
    (not refunded, not in another case); its lines are fixed when that decision is made."""
    holdings, _ = store.holdings_of(session, case.order_id)
    lines = []
    for line in store.purchase_lines(session, case.order_id):
        purchased = PurchasedLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, gift=line.gift)
        left = holdings.returnable(purchased)
        if left > 0:
            row = AftersalesCaseLine(case_id=case.case_id, sku=line.sku, quantity=left, gift=line.gift)
            session.add(row)
            lines.append(row)
    if not lines:
        raise ReturnRefused("too_many", f"nothing of order {case.order_id} is left to refund or replace")
    return lines


# ---------------------------------------------------------------------------------------------
# Case steps: each an agent's action and an event


def get_case(session: Session, case_id: str, *, for_update: bool = False) -> AftersalesCase:
    query = select(AftersalesCase).where(AftersalesCase.case_id == case_id)
    if for_update:
        query = query.with_for_update()
    case = session.exec(query).first()
    if case is None:
        raise CaseNotFound(f"no case {case_id}")
    return case


def _move(session: Session, case: AftersalesCase, target: CaseStatus, now: datetime, note: str = "") -> None:
    check_transition(CaseKind(case.kind), CaseStatus(case.status), target)
    case.status = target.value
    if is_handling_decision(target) and case.handled_at is None:
        case.handled_at = now
    if target in (CaseStatus.REFUNDED, CaseStatus.EXCHANGED, CaseStatus.REJECTED):
        case.closed_at = now
    session.add(case)
    store.add_step(session, case.case_id, target.value, now, note)


def _return_lines(lines: list[AftersalesCaseLine]) -> list[ReturnLine]:
    return [ReturnLine(sku=line.sku, quantity=line.quantity, gift=line.gift) for line in lines]


def approve(session: Session, case_id: str, now: datetime, publish: Publish, note: str = "") -> AftersalesCase:
    case = get_case(session, case_id, for_update=True)
    _move(session, case, CaseStatus.APPROVED, now, note)
    publish("return.approved", ReturnApproved(case_id=case.case_id, order_id=case.order_id, kind=case.kind,
                                              approved_at=now), case.order_id)
    return case


def receive(session: Session, case_id: str, now: datetime, publish: Publish, note: str = "") -> AftersalesCase:
    case = get_case(session, case_id, for_update=True)
    _move(session, case, CaseStatus.RECEIVED, now, note)
    publish("return.arrived", ReturnArrived(case_id=case.case_id, order_id=case.order_id,
                                            lines=_return_lines(store.case_lines(session, case_id)), arrived_at=now),
            case.order_id)
    return case


def inspect(session: Session, case_id: str, passed: bool, now: datetime, publish: Publish,
            note: str = "") -> AftersalesCase:
    """Publishes return.received with the inspection result: inventory restocks only when passed (R23)."""
    case = get_case(session, case_id, for_update=True)
    _move(session, case, CaseStatus.INSPECTED, now, ("passed" if passed else "failed") + (f": {note}" if note else ""))
    case.inspection_passed = passed
    publish("return.received", ReturnReceived(case_id=case.case_id, order_id=case.order_id,
                                              lines=_return_lines(store.case_lines(session, case_id)),
                                              inspection_passed=passed, received_at=now), case.order_id)
    return case


def refund(session: Session, case_id: str, now: datetime, publish: Publish, note: str = "") -> AftersalesCase:
    case = get_case(session, case_id, for_update=True)
    check_transition(CaseKind(case.kind), CaseStatus(case.status), CaseStatus.REFUNDED)
    lines = store.case_lines(session, case_id)
    if case.kind == CaseKind.SHIPMENT_EXCEPTION:
        lines = _take_back_everything_kept(session, case)
    amount = refund_preview(session, case.order_id, _quantities(lines))
    _move(session, case, CaseStatus.REFUNDED, now, f"refund {amount:.2f}" + (f"; {note}" if note else ""))
    case.refund_amount = amount
    session.add(case)
    publish("refund.issued", RefundIssued(case_id=case.case_id, order_id=case.order_id, amount=amount,
                                          issued_at=now), case.order_id)
    return case


def exchange(session: Session, case_id: str, now: datetime, publish: Publish, note: str = "") -> AftersalesCase:
    """Asks logistics for a replacement of the case's lines (gifts are never exchanged)."""
    case = get_case(session, case_id, for_update=True)
    check_transition(CaseKind(case.kind), CaseStatus(case.status), CaseStatus.EXCHANGED)
    lines = store.case_lines(session, case_id)
    if case.kind == CaseKind.SHIPMENT_EXCEPTION:
        lines = _take_back_everything_kept(session, case)
    record = store.get_purchase_record(session, case.order_id)
    by_sku = {line.sku: line for line in store.purchase_lines(session, case.order_id) if not line.gift}
    replacement = [OrderLine(sku=line.sku, quantity=line.quantity, unit_price=by_sku[line.sku].unit_price,
                             weight_kg=by_sku[line.sku].weight_kg, volume_l=by_sku[line.sku].volume_l)
                   for line in lines if not line.gift and line.sku in by_sku]
    _move(session, case, CaseStatus.EXCHANGED, now, note)
    publish("exchange.requested", ExchangeRequested(case_id=case.case_id, order_id=case.order_id, lines=replacement,
                                                    region=(record.region if record else None) or "",
                                                    requested_at=now), case.order_id)
    return case


def reject(session: Session, case_id: str, reason: str, now: datetime, publish: Publish) -> AftersalesCase:
    case = get_case(session, case_id, for_update=True)
    _move(session, case, CaseStatus.REJECTED, now, reason)
    publish("return.rejected", ReturnRejected(case_id=case.case_id, order_id=case.order_id, reason=reason,
                                              rejected_at=now), case.order_id)
    return case


def mark_dispute(session: Session, case_id: str, note: str, now: datetime) -> AftersalesCase:
    """R22: escalated; it goes to the head of the queue."""
    case = get_case(session, case_id, for_update=True)
    if CaseStatus(case.status) in (CaseStatus.REFUNDED, CaseStatus.EXCHANGED, CaseStatus.REJECTED):
        raise ReturnRefused("closed", f"case {case_id} is closed ({case.status}); open a new case instead")
    if not case.dispute:
        case.dispute = True
        session.add(case)
        store.add_step(session, case_id, "disputed", now, note)
    return case

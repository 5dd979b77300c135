"""Every statement of the aftersales service, by name; rows in, domain values out.

Cases are read and written with Core statements on their tables, never as ORM objects: a case
loaded and then changed by an UPDATE would otherwise be handed back stale by the session's
identity map to a later read in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, case, func, insert, literal, select, true, tuple_, update
from sqlmodel import Session, col

from services.aftersales.cases import CLOSED, Case, CaseChange, CaseKind, CaseLine, CaseStatus, Step
from services.aftersales.domain import ZERO, Purchase, PurchasedLine, SpendThreshold
from services.aftersales.models import (
    AftersalesCase,
    AftersalesCaseLine,
    AftersalesCaseStep,
    PurchaseLineRecord,
    PurchaseRecord,
)
from services.aftersales.presale import Balance
from shared.events import OrderAccepted
from shared.idempotency import forget_expired

CASES = AftersalesCase.__table__
CASE_LINES = AftersalesCaseLine.__table__
CASE_STEPS = AftersalesCaseStep.__table__
OPEN_STATUSES = [s.value for s in CaseStatus if s not in CLOSED]


# ---------------------------------------------------------------------------------------------
# What aftersales keeps of an order


def get_purchase_record(session: Session, order_id: str, *, for_update: bool = False) -> PurchaseRecord | None:
    query = select(PurchaseRecord).where(col(PurchaseRecord.order_id) == order_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: one request at a time per order
    return session.scalars(query).first()


def purchase_lines(session: Session, order_id: str) -> list[PurchaseLineRecord]:
    return list(session.scalars(select(PurchaseLineRecord).where(col(PurchaseLineRecord.order_id) == order_id)
                                .order_by(col(PurchaseLineRecord.line_no))))


def load_purchase(session: Session, order_id: str, *,
                  for_update: bool = False) -> tuple[PurchaseRecord | None, Purchase]:
    """The order's record (None when unheard of) and what was bought (nothing until its details
    arrived)."""
    record = get_purchase_record(session, order_id, for_update=for_update)
    lines = purchase_lines(session, order_id) if record is not None and record.accepted else []
    return record, to_purchase(order_id, record, lines)


def to_purchase(order_id: str, record: PurchaseRecord | None, lines: Iterable[PurchaseLineRecord]) -> Purchase:
    thresholds = tuple(SpendThreshold(threshold=Decimal(t["threshold"]), amount=Decimal(t["amount"]))
                       for t in json.loads(record.thresholds_json)) if record is not None else ()
    return Purchase(
        order_id=order_id,
        lines=tuple(PurchasedLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                                  gift_for_sku=line.gift_for_sku, paid=line.paid) for line in lines),
        paid_amount=(record.paid_amount if record is not None else None) or ZERO,
        thresholds=thresholds,
    )


def save_accepted_order(session: Session, record: PurchaseRecord | None, accepted: OrderAccepted,
                        purchase: Purchase, deposit: Decimal | None = None) -> None:
    """The order's details beside a delivery that may already be known; lines with what was paid
    for each (the weight and volume an exchange's replacement ships with come from the event).
    `purchase.paid_amount` is what was paid: the deposit's, or with a balance received first."""
    if record is None:
        record = PurchaseRecord(order_id=accepted.order_id)
    record.accepted = True
    record.customer_id = accepted.customer_id
    record.region = accepted.region
    record.currency = accepted.currency
    record.paid_amount = purchase.paid_amount
    record.deposit = deposit
    record.discount = accepted.discount
    record.thresholds_json = json.dumps([{"threshold": f"{t.threshold:.2f}", "amount": f"{t.amount:.2f}"}
                                         for t in purchase.thresholds])
    session.add(record)
    for line_no, (line, source) in enumerate(zip(purchase.lines, accepted.lines)):
        session.add(PurchaseLineRecord(order_id=accepted.order_id, line_no=line_no, sku=line.sku,
                                       quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                                       gift_for_sku=line.gift_for_sku, paid=line.paid,
                                       weight_kg=source.weight_kg, volume_l=source.volume_l))


def save_delivery(session: Session, record: PurchaseRecord | None, order_id: str, delivered_at: datetime,
                  shipment_id: str) -> None:
    if record is None:
        record = PurchaseRecord(order_id=order_id)  # the order's details may not have arrived yet
    record.delivered_at = delivered_at
    record.delivered_shipment_id = shipment_id
    session.add(record)


# ---------------------------------------------------------------------------------------------
# A deposit presale's balance (presale.py)


def kept_balance(record: PurchaseRecord | None) -> Balance | None:
    if record is None or record.balance_paid_at is None:
        return None
    return Balance(balance_amount=record.balance_amount, paid_amount=record.balance_paid_amount,
                   balance_paid_at=record.balance_paid_at)


def keep_balance(session: Session, record: PurchaseRecord | None, order_id: str, balance: Balance | None) -> None:
    """The balance received for the order (None: forget one that could not be applied); a record
    is made when the order's details have not arrived yet."""
    if record is None:
        record = PurchaseRecord(order_id=order_id)
    record.balance_amount = balance.balance_amount if balance else None
    record.balance_paid_amount = balance.paid_amount if balance else None
    record.balance_paid_at = balance.balance_paid_at if balance else None
    session.add(record)


def save_paid(session: Session, record: PurchaseRecord, purchase: Purchase) -> None:
    """What was paid in all and for each line, once the balance came."""
    record.paid_amount = purchase.paid_amount
    session.add(record)
    rows = purchase_lines(session, record.order_id)
    for row, line in zip(rows, purchase.lines, strict=True):
        row.paid = line.paid
        session.add(row)


# ---------------------------------------------------------------------------------------------
# Cases


def _case(row: Any) -> Case:
    return Case(case_id=row.case_id, order_id=row.order_id, kind=CaseKind(row.kind), status=CaseStatus(row.status),
                dispute=row.dispute, reason=row.reason, opened_at=row.opened_at, deadline_at=row.deadline_at,
                handled_at=row.handled_at, closed_at=row.closed_at, inspection_passed=row.inspection_passed,
                refund_amount=row.refund_amount, shipment_id=row.shipment_id, exception_kind=row.exception_kind)


def get_case(session: Session, case_id: str, *, for_update: bool = False) -> Case | None:
    query = select(CASES).where(CASES.c.case_id == case_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: one step at a time per case
    row = session.execute(query).first()
    return None if row is None else _case(row)


def add_case(session: Session, opened: CaseChange, lines: Sequence[CaseLine] = ()) -> None:
    case = opened.case
    session.execute(insert(CASES).values(
        case_id=case.case_id, order_id=case.order_id, kind=case.kind.value, status=case.status.value,
        dispute=case.dispute, reason=case.reason, opened_at=case.opened_at, deadline_at=case.deadline_at,
        handled_at=case.handled_at, closed_at=case.closed_at, inspection_passed=case.inspection_passed,
        refund_amount=case.refund_amount, shipment_id=case.shipment_id, exception_kind=case.exception_kind))
    add_case_lines(session, case.case_id, lines)
    _add_step(session, case.case_id, opened.step)


def save_case(session: Session, change: CaseChange) -> None:
    """What a step changed, and its timeline row; nothing when the step changed nothing."""
    if change.step is None:
        return
    case = change.case
    session.execute(update(CASES).where(CASES.c.case_id == case.case_id).values(
        status=case.status.value, dispute=case.dispute, handled_at=case.handled_at, closed_at=case.closed_at,
        inspection_passed=case.inspection_passed, refund_amount=case.refund_amount))
    _add_step(session, case.case_id, change.step)


def _add_step(session: Session, case_id: str, step: Step | None) -> None:
    if step is not None:
        session.execute(insert(CASE_STEPS).values(case_id=case_id, status=step.status, at=step.at, note=step.note))


def add_case_lines(session: Session, case_id: str, lines: Sequence[CaseLine]) -> None:
    if lines:
        session.execute(insert(CASE_LINES), [
            {"case_id": case_id, "sku": line.sku, "quantity": line.quantity, "gift": line.gift,
             "added_by_gift_rule": line.added_by_gift_rule} for line in lines])


def _line(row: Any) -> CaseLine:
    return CaseLine(sku=row.sku, quantity=row.quantity, gift=row.gift, added_by_gift_rule=row.added_by_gift_rule)


def case_lines(session: Session, case_id: str) -> list[CaseLine]:
    return lines_of_cases(session, [case_id]).get(case_id, [])


def lines_of_cases(session: Session, case_ids: Sequence[str]) -> dict[str, list[CaseLine]]:
    """The lines of several cases in one statement (a page of the queue)."""
    if not case_ids:
        return {}
    rows = session.execute(select(CASE_LINES).where(CASE_LINES.c.case_id.in_(list(case_ids)))
                           .order_by(CASE_LINES.c.id))
    found: dict[str, list[CaseLine]] = {}
    for row in rows:
        found.setdefault(row.case_id, []).append(_line(row))
    return found


def case_steps(session: Session, case_id: str) -> list[Step]:
    rows = session.execute(select(CASE_STEPS).where(CASE_STEPS.c.case_id == case_id).order_by(CASE_STEPS.c.id))
    return [Step(status=row.status, at=row.at, note=row.note) for row in rows]


def cases_of_order(session: Session, order_id: str) -> list[tuple[Case, list[CaseLine]]]:
    """Every case of the order with its lines, oldest first (what its holdings are made of)."""
    cases = [_case(row) for row in session.execute(
        select(CASES).where(CASES.c.order_id == order_id).order_by(CASES.c.opened_at, CASES.c.case_id))]
    lines = lines_of_cases(session, [c.case_id for c in cases])
    return [(c, lines.get(c.case_id, [])) for c in cases]


def exception_case_open(session: Session, order_id: str, shipment_id: str, kind: str) -> bool:
    row = session.execute(select(CASES.c.case_id).where(
        CASES.c.order_id == order_id, CASES.c.shipment_id == shipment_id, CASES.c.exception_kind == kind,
        CASES.c.status.in_(OPEN_STATUSES)).limit(1)).first()
    return row is not None


def all_cases(session: Session) -> list[Case]:
    return [_case(row) for row in session.execute(select(CASES))]


# cases.queue_position in SQL, so that the queue pages by keyset: its order and its page key.
_TIER = case((CASES.c.dispute == true(), 0), (CASES.c.kind == CaseKind.SHIPMENT_EXCEPTION.value, 1), else_=2)
_QUEUE_ORDER = (_TIER, CASES.c.deadline_at, CASES.c.opened_at, CASES.c.case_id)


def queue_page(session: Session, *, include_closed: bool, after: tuple[int, datetime, datetime, str] | None,
               fetch: int, order_id: str | None = None) -> list[Case]:
    """Up to `fetch` cases in queue order after the key `after` (cases.queue_position); only
    `order_id`'s when given."""
    query = select(CASES).order_by(*_QUEUE_ORDER).limit(fetch)
    if order_id is not None:
        query = query.where(CASES.c.order_id == order_id)
    if not include_closed:
        query = query.where(CASES.c.status.in_(OPEN_STATUSES))
    if after is not None:
        tier, deadline_at, opened_at, case_id = after
        # Typed as their columns: a bare datetime would be bound without the column's UTC handling.
        query = query.where(and_(tuple_(*_QUEUE_ORDER) > tuple_(
            literal(tier, Integer()), literal(deadline_at, CASES.c.deadline_at.type),
            literal(opened_at, CASES.c.opened_at.type), literal(case_id, CASES.c.case_id.type))))
    return [_case(row) for row in session.execute(query)]


def forget_expired_answers(session: Session, now: datetime) -> int:
    """Idempotency-Key answers past their retention (at start-up)."""
    return forget_expired(session, now)


def count_unhandled_due_by(session: Session, by: datetime) -> int:
    """Cases not handled yet whose 48-hour deadline is at or before `by` (passed ones included):
    the gauge the after-sales alert watches (R21)."""
    return session.execute(select(func.count()).select_from(CASES).where(
        CASES.c.handled_at.is_(None), CASES.c.deadline_at <= by)).scalar_one()

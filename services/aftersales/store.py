"""Reading and writing the aftersales tables; turns rows into the domain's values."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from services.aftersales.domain import (
    CLOSED,
    ZERO,
    CaseKind,
    CaseStatus,
    CaseView,
    OrderHoldings,
    Purchase,
    PurchasedLine,
    SpendThreshold,
)
from services.aftersales.models import (
    AftersalesCase,
    AftersalesCaseLine,
    AftersalesCaseStep,
    PurchaseLineRecord,
    PurchaseRecord,
)

OPEN_STATUSES = [s.value for s in CaseStatus if s not in CLOSED]


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def get_purchase_record(session: Session, order_id: str, *, for_update: bool = False) -> PurchaseRecord | None:
    query = select(PurchaseRecord).where(PurchaseRecord.order_id == order_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: one request at a time per order
    return session.exec(query).first()


def purchase_lines(session: Session, order_id: str) -> list[PurchaseLineRecord]:
    return list(session.exec(select(PurchaseLineRecord).where(PurchaseLineRecord.order_id == order_id)
                             .order_by(col(PurchaseLineRecord.line_no))))


def to_purchase(record: PurchaseRecord, lines: Iterable[PurchaseLineRecord]) -> Purchase:
    thresholds = tuple(SpendThreshold(threshold=Decimal(t["threshold"]), amount=Decimal(t["amount"]))
                       for t in json.loads(record.thresholds_json))
    return Purchase(
        order_id=record.order_id,
        lines=tuple(PurchasedLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                                  gift_for_sku=line.gift_for_sku, paid=line.paid) for line in lines),
        paid_amount=record.paid_amount or ZERO,
        thresholds=thresholds,
    )


def cases_of_order(session: Session, order_id: str) -> list[AftersalesCase]:
    return list(session.exec(select(AftersalesCase).where(AftersalesCase.order_id == order_id)
                             .order_by(col(AftersalesCase.opened_at))))


def case_lines(session: Session, case_id: str) -> list[AftersalesCaseLine]:
    return list(session.exec(select(AftersalesCaseLine).where(AftersalesCaseLine.case_id == case_id)
                             .order_by(col(AftersalesCaseLine.id))))


def holdings_of(session: Session, order_id: str) -> tuple[OrderHoldings, Decimal]:
    """Units refunded and units in open return/exchange cases, per sku; and the total refunded."""
    refunded: dict[str, int] = {}
    in_open: dict[str, int] = {}
    refunded_total = ZERO
    for case in cases_of_order(session, order_id):
        if case.status == CaseStatus.REFUNDED:
            refunded_total += case.refund_amount or ZERO
            target = refunded
        elif case.status not in CLOSED and case.kind != CaseKind.SHIPMENT_EXCEPTION:
            target = in_open
        else:
            continue
        for line in case_lines(session, case.case_id):
            target[line.sku] = target.get(line.sku, 0) + line.quantity
    return OrderHoldings(refunded=refunded, in_open_cases=in_open), refunded_total


def add_step(session: Session, case_id: str, status: str, at: datetime, note: str = "") -> None:
    session.add(AftersalesCaseStep(case_id=case_id, status=status, at=at, note=note))


def case_steps(session: Session, case_id: str) -> list[AftersalesCaseStep]:
    return list(session.exec(select(AftersalesCaseStep).where(AftersalesCaseStep.case_id == case_id)
                             .order_by(col(AftersalesCaseStep.id))))


def open_cases(session: Session) -> list[AftersalesCase]:
    return list(session.exec(select(AftersalesCase).where(col(AftersalesCase.status).in_(OPEN_STATUSES))))


def all_cases(session: Session) -> list[AftersalesCase]:
    return list(session.exec(select(AftersalesCase)))


def view_of(case: AftersalesCase) -> CaseView:
    return CaseView(case_id=case.case_id, kind=CaseKind(case.kind), dispute=case.dispute,
                    opened_at=utc(case.opened_at), deadline_at=utc(case.deadline_at), handled_at=utc(case.handled_at))

"""What the HTTP answers show: a case with its timeline and refund preview, a page of the queue,
the SLA figures, what an order still allows to return. Reads only, in the caller's session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from services.aftersales import cases, store
from services.aftersales.cases import Case, CaseKind, CaseLine, CaseNotFound, CaseStatus
from services.aftersales.domain import (
    GiftPolicy,
    ReturnRefused,
    check_described,
    check_returnable,
    preview_refund,
    refund_amount,
    return_window_closes_at,
    within_return_window,
)
from services.aftersales.schemas import (
    CaseDetail,
    CaseLineOut,
    CaseList,
    CaseSla,
    CaseSummary,
    PreviewLine,
    RefundPreview,
    Returnable,
    ReturnableLine,
    TimelineStep,
)
from shared.pagination import PageRequest, next_cursor


def _fields(case: Case, lines: Sequence[CaseLine], now: datetime) -> dict[str, object]:
    return dict(
        case_id=case.case_id, order_id=case.order_id, kind=case.kind.value, status=case.status.value,
        dispute=case.dispute, reason=case.reason, opened_at=case.opened_at, deadline_at=case.deadline_at,
        handled_at=case.handled_at, closed_at=case.closed_at, overdue=case.overdue(now),
        inspection_passed=case.inspection_passed, refund_amount=case.refund_amount, shipment_id=case.shipment_id,
        exception_kind=case.exception_kind,
        lines=[CaseLineOut(sku=line.sku, quantity=line.quantity, gift=line.gift,
                           added_by_gift_rule=line.added_by_gift_rule) for line in lines])


def summaries(session: Session, listed: Sequence[Case], now: datetime) -> list[CaseSummary]:
    lines = store.lines_of_cases(session, [case.case_id for case in listed])
    return [CaseSummary(**_fields(case, lines.get(case.case_id, []), now)) for case in listed]  # type: ignore[arg-type]


def case_detail(session: Session, case: Case, now: datetime) -> CaseDetail:
    lines = store.case_lines(session, case.case_id)
    preview = None
    if case.kind is CaseKind.RETURN and case.refund_amount is None and case.status is not CaseStatus.REJECTED:
        record, purchase = store.load_purchase(session, case.order_id)
        check_described(case.order_id, record)
        holdings, refunded_so_far = cases.holdings_of(store.cases_of_order(session, case.order_id))
        preview = refund_amount(purchase, holdings, refunded_so_far, cases.units_by_sku(lines))
    timeline = [TimelineStep(status=step.status, at=step.at, note=step.note)
                for step in store.case_steps(session, case.case_id)]
    return CaseDetail(**_fields(case, lines, now), timeline=timeline, refund_preview=preview)  # type: ignore[arg-type]


def case_by_id(session: Session, case_id: str, now: datetime) -> CaseDetail:
    case = store.get_case(session, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    return case_detail(session, case, now)


def queue_page(session: Session, *, include_closed: bool, page: PageRequest, now: datetime,
               order_id: str | None = None) -> CaseList:
    """Keyset pages of the handling queue; the page key is the queue position itself."""
    after = page.after_matching(int, datetime, datetime, str)
    rows = store.queue_page(session, include_closed=include_closed, after=after,  # type: ignore[arg-type]
                            fetch=page.fetch_limit, order_id=order_id)
    return CaseList(cases=summaries(session, rows[:page.limit], now),
                    next_cursor=next_cursor(rows, page.limit, cases.queue_position))


def sla(session: Session, now: datetime, at_risk_hours: float) -> CaseSla:
    report = cases.sla_report(store.all_cases(session), now, timedelta(hours=at_risk_hours))
    return CaseSla(target_hours=48, at_risk_hours=at_risk_hours, cases=report.cases, handled=report.handled,
                   handled_within_48h=report.handled_in_time, overdue_unhandled=report.overdue_unhandled,
                   share_handled_within_48h=(str(report.share_handled_in_time)
                                             if report.share_handled_in_time is not None else None),
                   at_risk=summaries(session, report.at_risk, now))  # type: ignore[arg-type]


def returnable(session: Session, order_id: str, lines: str | None, now: datetime, policy: GiftPolicy) -> Returnable:
    """What can still be returned, and the refund of `lines` (SKU-A:2,SKU-B:1; default: every
    returnable paid unit), gift rule applied."""
    record, purchase = store.load_purchase(session, order_id)
    delivered_at = check_returnable(order_id, record)
    holdings, refunded_so_far = cases.holdings_of(store.cases_of_order(session, order_id))
    rows = []
    for line in purchase.lines:
        left = holdings.returnable(line)
        all_back = None if line.gift or left == 0 else preview_refund(
            purchase, holdings, refunded_so_far, [(line.sku, left)], policy)[1]
        rows.append(ReturnableLine(
            sku=line.sku, gift=line.gift, gift_for_sku=line.gift_for_sku, quantity=line.quantity,
            unit_price=line.unit_price, paid=line.paid, refunded=holdings.refunded.get(line.sku, 0),
            in_open_cases=holdings.in_open_cases.get(line.sku, 0), returnable=left, refund_if_all_returned=all_back))
    wanted = _parse_lines(lines) if lines else [(r.sku, r.returnable) for r in rows if not r.gift and r.returnable > 0]
    preview = None
    if wanted:
        planned, amount = preview_refund(purchase, holdings, refunded_so_far, wanted, policy)
        preview = RefundPreview(lines=[PreviewLine(sku=line.sku, quantity=quantity, gift=line.gift,
                                                   added_by_gift_rule=by_rule) for line, quantity, by_rule in planned],
                                amount=amount)
    return Returnable(order_id=order_id, delivered_at=delivered_at,
                      window_closes_at=return_window_closes_at(delivered_at),
                      window_open=within_return_window(delivered_at, now), gift_policy=policy.value,
                      paid_amount=purchase.paid_amount, refunded_so_far=refunded_so_far, lines=rows,
                      deposit=record.deposit,
                      balance_amount=record.balance_amount if record.deposit is not None else None,
                      refund_preview=preview)


def _parse_lines(text: str) -> list[tuple[str, int]]:
    wanted = []
    for part in text.split(","):
        sku, _, quantity = part.strip().rpartition(":")
        if not sku or not quantity.isdigit():
            raise ReturnRefused("unknown_line", f"`lines` must look like SKU-A:2,SKU-B:1; got {part!r}")
        wanted.append((sku, int(quantity)))
    return wanted

"""HTTP routes for support agents and the web console."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from services.aftersales import casework, store
from services.aftersales.domain import (
    CaseKind,
    OrderHoldings,
    Purchase,
    ReturnRefused,
    TransitionRefused,
    handling_queue,
    plan_request,
    refund_amount,
    return_window_closes_at,
    sla_report,
    within_return_window,
)
from services.aftersales.models import AftersalesCase
from services.aftersales.settings import AftersalesSettings
from shared.contract_types import EntityId, Sku
from shared.events import ShortText
from shared.service import ServiceRuntime
from shared.topics import AFTERSALES_CASES

STATUS_OF_REFUSAL = {
    "unknown_order": 404, "not_delivered": 409, "not_described": 409, "window_closed": 409, "closed": 409,
    "unknown_line": 422, "too_many": 422, "gift_rule": 422,
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestedLine(Body):
    sku: Sku
    quantity: int = Field(gt=0, le=10_000)


class ReturnRequest(Body):
    order_id: EntityId
    kind: Literal["return", "exchange"] = "return"
    lines: list[RequestedLine] = Field(min_length=1, max_length=100)
    # The contract's own text type: what return.requested would refuse is a 422 here, not a 500.
    reason: ShortText = Field(default="", description="Optional: returns need no reason (R19).")  # type: ignore[valid-type]
    dispute: bool = Field(default=False, description="Open the case as a dispute (R22): handled first.")


class StepNote(Body):
    note: str = Field(default="", max_length=500)


class Inspection(Body):
    passed: bool
    note: str = Field(default="", max_length=500)


class Rejection(Body):
    reason: ShortText = Field(min_length=1)  # type: ignore[valid-type]


@contextmanager
def refusals_as_http() -> Iterator[None]:
    """Domain refusals become 4xx with the reason a person can act on."""
    try:
        yield
    except (ReturnRefused, casework.OrderNotReturnable) as exc:
        raise HTTPException(STATUS_OF_REFUSAL.get(exc.kind, 422), str(exc)) from exc
    except casework.CaseNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except TransitionRefused as exc:
        raise HTTPException(409, str(exc)) from exc


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def _iso(value: Any) -> str | None:
    moment = store.utc(value)
    return moment.isoformat() if moment else None


def build_router(runtime: ServiceRuntime, settings: AftersalesSettings) -> APIRouter:
    router = APIRouter(tags=["aftersales"])
    policy = settings.gift_policy

    def publisher(session: Session) -> casework.Publish:
        return lambda type_, payload, key: runtime.outbox.publish(session, AFTERSALES_CASES, type_, payload, key=key)

    def case_json(session: Session, case: AftersalesCase, *, detail: bool) -> dict[str, Any]:
        now = runtime.clock.now()
        lines = store.case_lines(session, case.case_id)
        body: dict[str, Any] = {
            "case_id": case.case_id, "order_id": case.order_id, "kind": case.kind, "status": case.status,
            "dispute": case.dispute, "reason": case.reason, "opened_at": _iso(case.opened_at),
            "deadline_at": _iso(case.deadline_at), "handled_at": _iso(case.handled_at),
            "closed_at": _iso(case.closed_at),
            "overdue": case.handled_at is None and now > store.utc(case.deadline_at),
            "inspection_passed": case.inspection_passed, "refund_amount": _money(case.refund_amount),
            "shipment_id": case.shipment_id, "exception_kind": case.exception_kind,
            "lines": [{"sku": line.sku, "quantity": line.quantity, "gift": line.gift,
                       "added_by_gift_rule": line.added_by_gift_rule} for line in lines],
        }
        if detail:
            body["timeline"] = [{"status": s.status, "at": _iso(s.at), "note": s.note}
                                for s in store.case_steps(session, case.case_id)]
            if case.kind == CaseKind.RETURN and case.refund_amount is None and case.status != "rejected":
                quantities: dict[str, int] = {}
                for line in lines:
                    quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
                body["refund_preview"] = _money(casework.refund_preview(session, case.order_id, quantities))
        return body

    def act(case_id: str, step: Callable[[Session], AftersalesCase]) -> dict[str, Any]:
        with refusals_as_http(), runtime.transaction() as session:
            case = step(session)
            return case_json(session, case, detail=True)

    @router.post("/returns", status_code=201)
    def request_return(request: ReturnRequest) -> dict[str, Any]:
        """R19: a return or exchange of some lines of a delivered order, within seven days."""
        with refusals_as_http(), runtime.transaction() as session:
            case = casework.request_return(
                session, order_id=request.order_id, kind=CaseKind(request.kind),
                lines=[(line.sku, line.quantity) for line in request.lines], reason=request.reason,
                dispute=request.dispute, now=runtime.clock.now(), policy=policy, publish=publisher(session))
            return case_json(session, case, detail=True)

    @router.get("/cases")
    def list_cases(include_closed: bool = False) -> dict[str, Any]:
        """Open cases, disputes first (R22), then shipment exceptions, then by 48-hour deadline."""
        with Session(runtime.engine) as session:
            cases = store.all_cases(session) if include_closed else store.open_cases(session)
            by_id = {case.case_id: case for case in cases}
            ordered = [by_id[view.case_id] for view in handling_queue(store.view_of(c) for c in cases)]
            return {"cases": [case_json(session, case, detail=False) for case in ordered]}

    @router.get("/cases/sla")
    def case_sla() -> dict[str, Any]:
        """R21: share of cases handled (approved or closed) within 48 hours, and cases at risk."""
        with Session(runtime.engine) as session:
            cases = store.all_cases(session)
            report = sla_report([store.view_of(c) for c in cases], runtime.clock.now(),
                                timedelta(hours=settings.at_risk_hours))
            by_id = {case.case_id: case for case in cases}
            return {
                "target_hours": 48, "at_risk_hours": settings.at_risk_hours, "cases": report.cases,
                "handled": report.handled, "handled_within_48h": report.handled_in_time,
                "overdue_unhandled": report.overdue_unhandled,
                "share_handled_within_48h": (str(report.share_handled_in_time)
                                             if report.share_handled_in_time is not None else None),
                "at_risk": [case_json(session, by_id[v.case_id], detail=False) for v in report.at_risk],
            }

    @router.get("/cases/{case_id}")
    def get_case(case_id: str) -> dict[str, Any]:
        with refusals_as_http(), Session(runtime.engine) as session:
            return case_json(session, casework.get_case(session, case_id), detail=True)

    @router.post("/cases/{case_id}/approve")
    def approve(case_id: str, body: StepNote | None = None) -> dict[str, Any]:
        note = body.note if body else ""
        return act(case_id, lambda s: casework.approve(s, case_id, runtime.clock.now(), publisher(s), note))

    @router.post("/cases/{case_id}/receive")
    def receive(case_id: str, body: StepNote | None = None) -> dict[str, Any]:
        note = body.note if body else ""
        return act(case_id, lambda s: casework.receive(s, case_id, runtime.clock.now(), publisher(s), note))

    @router.post("/cases/{case_id}/inspect")
    def inspect(case_id: str, body: Inspection) -> dict[str, Any]:
        """Publishes return.received: inventory restocks only when the inspection passed (R23)."""
        return act(case_id, lambda s: casework.inspect(s, case_id, body.passed, runtime.clock.now(), publisher(s),
                                                       body.note))

    @router.post("/cases/{case_id}/refund")
    def refund(case_id: str, body: StepNote | None = None) -> dict[str, Any]:
        """R23: refunds what was paid for the returned lines after discounts."""
        note = body.note if body else ""
        return act(case_id, lambda s: casework.refund(s, case_id, runtime.clock.now(), publisher(s), note))

    @router.post("/cases/{case_id}/exchange")
    def exchange(case_id: str, body: StepNote | None = None) -> dict[str, Any]:
        note = body.note if body else ""
        return act(case_id, lambda s: casework.exchange(s, case_id, runtime.clock.now(), publisher(s), note))

    @router.post("/cases/{case_id}/reject")
    def reject(case_id: str, body: Rejection) -> dict[str, Any]:
        return act(case_id, lambda s: casework.reject(s, case_id, body.reason, runtime.clock.now(), publisher(s)))

    @router.post("/cases/{case_id}/dispute")
    def dispute(case_id: str, body: StepNote | None = None) -> dict[str, Any]:
        """R22: escalate; the case moves to the head of GET /cases."""
        note = body.note if body else ""
        return act(case_id, lambda s: casework.mark_dispute(s, case_id, note, runtime.clock.now()))

    @router.get("/orders/{order_id}/returnable")
    def returnable(order_id: str, lines: str | None = None) -> dict[str, Any]:
        """What can still be returned, the gift rule, and the refund it would give now.
        `lines=SKU-A:2,SKU-B:1` previews exactly that return (gift rule applied)."""
        now = runtime.clock.now()
        with refusals_as_http(), Session(runtime.engine) as session:
            order = casework.returnable_order(session, order_id, now)
            purchase = store.to_purchase(order.record, order.lines)
            holdings, refunded_total = store.holdings_of(session, order_id)
            delivered_at = store.utc(order.record.delivered_at)
            rows = []
            for line in purchase.lines:
                left = holdings.returnable(line)
                rows.append({
                    "sku": line.sku, "gift": line.gift, "gift_for_sku": line.gift_for_sku, "quantity": line.quantity,
                    "unit_price": _money(line.unit_price), "paid": _money(line.paid),
                    "refunded": holdings.refunded.get(line.sku, 0),
                    "in_open_cases": holdings.in_open_cases.get(line.sku, 0), "returnable": left,
                    "refund_if_all_returned": (None if line.gift or left == 0 else
                                               _preview(purchase, holdings, refunded_total, [(line.sku, left)])),
                })
            wanted = _parse_lines(lines) if lines else [(r["sku"], r["returnable"]) for r in rows
                                                        if not r["gift"] and r["returnable"] > 0]
            body: dict[str, Any] = {
                "order_id": order_id, "delivered_at": delivered_at.isoformat(),
                "window_closes_at": return_window_closes_at(delivered_at).isoformat(),
                "window_open": within_return_window(delivered_at, now), "gift_policy": policy.value,
                "paid_amount": _money(purchase.paid_amount), "refunded_so_far": _money(refunded_total),
                "lines": rows,
            }
            if wanted:
                planned = plan_request(purchase, holdings, "return", wanted, policy)
                body["refund_preview"] = {
                    "lines": [{"sku": line.sku, "quantity": q, "gift": line.gift, "added_by_gift_rule": by_rule}
                              for line, q, by_rule in planned],
                    "amount": _preview(purchase, holdings, refunded_total, [(line.sku, q) for line, q, _ in planned]),
                }
            return body

    def _preview(purchase: Purchase, holdings: OrderHoldings, refunded_total: Decimal,
                 wanted: list[tuple[str, int]]) -> str:
        planned = plan_request(purchase, holdings, "return", wanted, policy)
        quantities: dict[str, int] = {}
        for line, quantity, _ in planned:
            quantities[line.sku] = quantities.get(line.sku, 0) + quantity
        return _money(refund_amount(purchase, holdings, refunded_total, quantities))

    return router


def _parse_lines(text: str) -> list[tuple[str, int]]:
    wanted = []
    for part in text.split(","):
        sku, _, quantity = part.strip().rpartition(":")
        if not sku or not quantity.isdigit():
            raise ReturnRefused("unknown_line", f"`lines` must look like SKU-A:2,SKU-B:1; got {part!r}")
        wanted.append((sku, int(quantity)))
    return wanted

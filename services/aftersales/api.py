"""HTTP routes for support agents and the web console (roles: access.py; bodies: schemas.py).

`POST /returns` and every case step honour `Idempotency-Key`: the same request sent again with
the same key gets the first answer back and changes nothing. Without a key a repeated step is
refused by the workflow (409, nothing happens twice); a repeated dispute is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.aftersales import usecases, views
from services.aftersales.cases import Case
from services.aftersales.schemas import (
    CaseDetail,
    CaseList,
    CaseSla,
    Inspection,
    Rejection,
    Returnable,
    ReturnRequest,
    StepNote,
)
from services.aftersales.settings import AftersalesSettings
from shared.contract_types import EntityId
from shared.db import read_session
from shared.http_app import RuntimeDep, Work, service_policy
from shared.http_problems import Problem
from shared.idempotency import IdempotencyKey, create_once
from shared.pagination import PageRequest, page_request_within
from shared.unit_of_work import UnitOfWork

STATUS_OF_REFUSAL = {
    "unknown_order": 404, "unknown_case": 404, "not_delivered": 409, "not_described": 409, "window_closed": 409,
    "closed": 409, "transition": 409, "unknown_line": 422, "too_many": 422, "gift_rule": 422,
}
PROBLEM_OF_STATUS = {404: "not-found", 409: "conflict", 422: "invalid-request"}


async def refused(_request: Request, exc: Exception) -> JSONResponse:
    """A domain refusal (domain.Refusal) as a problem with the reason a person can act on."""
    status = STATUS_OF_REFUSAL.get(getattr(exc, "kind", ""), 422)
    return Problem(status, PROBLEM_OF_STATUS[status], str(exc)).response()


SettingsDep = Annotated[AftersalesSettings, Depends(service_policy)]

CASES_DEFAULT_LIMIT, CASES_MAX_LIMIT = 1000, 5000


# GET /cases answered every case before it paged, and the returns desk and the simulator still
# read it in one call: its own, larger bounds.
case_page = page_request_within(CASES_DEFAULT_LIMIT, CASES_MAX_LIMIT)

Page = Annotated[PageRequest, Depends(case_page)]

router = APIRouter(tags=["aftersales"])


@router.post("/returns", status_code=201, response_model=CaseDetail)
def request_return(request: ReturnRequest, work: Work, settings: SettingsDep, key: IdempotencyKey) -> Any:
    """R19: a return or exchange of some lines of a delivered order, within seven days."""
    def open_case(uow: UnitOfWork) -> Case:
        return usecases.request_return(uow, request, settings.gift_policy)

    return _case_once(work, key, "request-return", request, 201, open_case)


@router.get("/cases", response_model=CaseList)
def list_cases(runtime: RuntimeDep, page: Page, include_closed: bool = False,
               order_id: Annotated[EntityId | None, Query(description="Only this order's cases")] = None) -> CaseList:
    """Open cases (all with `include_closed`), disputes first (R22), then shipment exceptions,
    then by 48-hour deadline; a page at a time (`limit`, `cursor` from `next_cursor`)."""
    with read_session(runtime.engine) as session:
        return views.queue_page(session, include_closed=include_closed, page=page, now=runtime.clock.now(),
                                order_id=order_id)


@router.get("/cases/sla", response_model=CaseSla)
def case_sla(runtime: RuntimeDep, settings: SettingsDep) -> CaseSla:
    """R21: share of cases handled (approved or closed) within 48 hours, and cases at risk."""
    with read_session(runtime.engine) as session:
        return views.sla(session, runtime.clock.now(), settings.at_risk_hours)


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: str, runtime: RuntimeDep) -> CaseDetail:
    with read_session(runtime.engine) as session:
        return views.case_by_id(session, case_id, runtime.clock.now())


def _note_step(step: str, use_case: Callable[[UnitOfWork, usecases.CaseStep], Case], doc: str) -> None:
    """A case step whose body is an optional note: POST /cases/{case_id}/<step>."""

    def route(case_id: str, work: Work, key: IdempotencyKey, body: StepNote | None = None) -> Any:
        body = body or StepNote()
        return _case_once(work, key, f"case-{step}", (case_id, body), 200,
                          lambda uow: use_case(uow, usecases.CaseStep(case_id, body.note)))

    route.__name__, route.__doc__ = step, doc
    router.post(f"/cases/{{case_id}}/{step}", response_model=CaseDetail)(route)


for _step, _use_case, _doc in (
        ("approve", usecases.approve, "Approve a requested return; the customer sends it back."),
        ("receive", usecases.receive, "The returned parcel arrived at the warehouse."),
        ("refund", usecases.refund, "R23: refunds what was paid for the returned lines after discounts."),
        ("exchange", usecases.exchange, "Ship a replacement instead of a refund."),
        ("dispute", usecases.mark_dispute, "R22: escalate; the case moves to the head of GET /cases.")):
    _note_step(_step, _use_case, _doc)


@router.post("/cases/{case_id}/inspect", response_model=CaseDetail)
def inspect(case_id: str, body: Inspection, work: Work, key: IdempotencyKey) -> Any:
    """Publishes return.received: inventory restocks only when the inspection passed (R23)."""
    return _case_once(work, key, "case-inspect", (case_id, body), 200,
                      lambda uow: usecases.inspect(uow, usecases.CaseStep(case_id, body.note, passed=body.passed)))


@router.post("/cases/{case_id}/reject", response_model=CaseDetail)
def reject(case_id: str, body: Rejection, work: Work, key: IdempotencyKey) -> Any:
    return _case_once(work, key, "case-reject", (case_id, body), 200,
                      lambda uow: usecases.reject(uow, usecases.CaseStep(case_id, body.reason)))


@router.get("/orders/{order_id}/returnable", response_model=Returnable)
def returnable(order_id: str, runtime: RuntimeDep, settings: SettingsDep, lines: str | None = None) -> Returnable:
    """What can still be returned, the gift rule, and the refund it would give now.
    `lines=SKU-A:2,SKU-B:1` previews exactly that return (gift rule applied)."""
    with read_session(runtime.engine) as session:
        return views.returnable(session, order_id, lines, runtime.clock.now(), settings.gift_policy)


def _case_once(work: Work, key: str | None, operation: str, request: Any, status_code: int,
               act: Callable[[UnitOfWork], Case]) -> Any:
    """A case-changing use case answering the case as it became, once per Idempotency-Key."""
    return create_once(work, operation, request=request, key=key, status_code=status_code,
                       create=lambda uow: views.case_detail(uow.session, act(uow), uow.now))

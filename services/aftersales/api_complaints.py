"""HTTP routes of complaints (R27): support agents open and answer them, admins read them, the
customer-facing platform may open one for a customer and follow it. Roles: access.py.

`POST /complaints` and both steps honour `Idempotency-Key`; without one a repeated step is refused
(409: the first response is recorded once, a complaint is resolved once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.aftersales import store_complaints, usecases_complaints
from services.aftersales.complaints import Complaint, ComplaintRefused, desk_position
from services.aftersales.schemas_complaints import (
    ComplaintList,
    ComplaintOut,
    ComplaintRequest,
    ComplaintResolution,
    ComplaintResponse,
    ComplaintState,
)
from shared.contract_types import EntityId
from shared.db import read_session
from shared.http_app import RuntimeDep, Work
from shared.http_problems import Problem
from shared.idempotency import IdempotencyKey, create_once
from shared.pagination import PageRequest, next_cursor, page_request

router = APIRouter(tags=["complaints"])

Page = Annotated[PageRequest, Depends(page_request)]


def complaint_out(complaint: Complaint, now: datetime) -> ComplaintOut:
    status = "resolved" if complaint.resolved_at else "responded" if complaint.responded_at else "open"
    return ComplaintOut(
        complaint_id=complaint.complaint_id, order_id=complaint.order_id, customer_id=complaint.customer_id,
        channel=complaint.channel.value, subject=complaint.subject, text=complaint.text, status=status,
        opened_at=complaint.opened_at, opened_by=complaint.opened_by,
        first_response_due=complaint.first_response_due, resolution_due=complaint.resolution_due,
        next_due=complaint.next_due, first_response_overdue=complaint.first_response_overdue(now),
        resolution_overdue=complaint.resolution_overdue(now),
        first_response_in_time=complaint.first_response_in_time, resolved_in_time=complaint.resolved_in_time,
        responded_at=complaint.responded_at, response=complaint.response, responded_by=complaint.responded_by,
        resolved_at=complaint.resolved_at, resolution=complaint.resolution, resolved_by=complaint.resolved_by,
        now=now)


@router.post("/complaints", status_code=201, response_model=ComplaintOut)
def open_complaint(request: ComplaintRequest, work: Work, key: IdempotencyKey) -> Any:
    """A complaint about an order: first response due in 1 hour, resolution in 24 (R27)."""
    return create_once(work, "open-complaint", request=request, key=key, status_code=201,
                       create=lambda uow: complaint_out(usecases_complaints.open_complaint(uow, request), uow.now))


@router.get("/complaints", response_model=ComplaintList)
def list_complaints(runtime: RuntimeDep, page: Page, state: ComplaintState = "open",
                    order_id: Annotated[EntityId | None, Query()] = None,
                    customer_id: Annotated[EntityId | None, Query()] = None) -> ComplaintList:
    """Public complaints first, then by the nearest deadline (the first response's until
    responded, then the resolution's); `state` open (default), closed or all."""
    after = page.after_matching(int, datetime, datetime, str)
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        rows = store_complaints.desk_page(session, state=state, order_id=order_id, customer_id=customer_id,
                                          after=after, fetch=page.fetch_limit)  # type: ignore[arg-type]
    return ComplaintList(complaints=[complaint_out(c, now) for c in rows[:page.limit]],
                         next_cursor=next_cursor(rows, page.limit, desk_position))


@router.get("/complaints/{complaint_id}", response_model=ComplaintOut)
def get_complaint(complaint_id: str, runtime: RuntimeDep) -> ComplaintOut:
    with read_session(runtime.engine) as session:
        complaint = store_complaints.get_complaint(session, complaint_id)
    if complaint is None:
        raise ComplaintRefused("unknown_complaint", f"no complaint {complaint_id}")
    return complaint_out(complaint, runtime.clock.now())


@router.post("/complaints/{complaint_id}/respond", response_model=ComplaintOut)
def respond(complaint_id: str, body: ComplaintResponse, work: Work, key: IdempotencyKey) -> Any:
    """The first response to the customer (due 1 hour after opening); recorded once."""
    step = usecases_complaints.ComplaintStep(complaint_id, body.response)
    return create_once(work, "complaint-respond", request=(complaint_id, body), key=key, status_code=200,
                       create=lambda uow: complaint_out(usecases_complaints.respond(uow, step), uow.now))


@router.post("/complaints/{complaint_id}/resolve", response_model=ComplaintOut)
def resolve(complaint_id: str, body: ComplaintResolution, work: Work, key: IdempotencyKey) -> Any:
    """Closes the complaint with what was done (due 24 hours after opening); a second time is a 409."""
    step = usecases_complaints.ComplaintStep(complaint_id, body.resolution)
    return create_once(work, "complaint-resolve", request=(complaint_id, body), key=key, status_code=200,
                       create=lambda uow: complaint_out(usecases_complaints.resolve(uow, step), uow.now))


STATUS_OF_REFUSAL = {"unknown_complaint": 404, "unknown_order": 404, "closed": 409, "responded": 409}
PROBLEM_OF_STATUS = {404: "not-found", 409: "conflict", 422: "invalid-request"}


async def refused(_request: Request, exc: Exception) -> JSONResponse:
    """A complaint rule's refusal as a problem: 404 unknown, 409 out of turn, else 422."""
    status = STATUS_OF_REFUSAL.get(getattr(exc, "kind", ""), 422)
    return Problem(status, PROBLEM_OF_STATUS[status], str(exc)).response()

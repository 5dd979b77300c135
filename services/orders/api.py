"""HTTP routes of the orders service (who may call which: access.py; shapes: schemas.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.orders import usecases
from services.orders.domain import OrderInvalid, OrderPolicy
from services.orders.schemas import (CancelAnswer, CancelRequest, ConflictPage, OrderPage, OrderSubmitted, OrderView,
                                     RejectedOrder, RejectionPage, Stats)
from shared.db import read_session
from shared.events import OrderPlaced
from shared.http_app import RuntimeDep, Work, service_policy
from shared.http_problems import ContractRoute, Problem, problem_responses
from shared.idempotency import IdempotencyKey, create_once, idempotent_response
from shared.pagination import PageRequest, page_request
from shared.unit_of_work import UnitOfWork

MAX_ROW_ID = 2**63 - 1
"""Row ids are 64-bit: a larger `after_id` is refused (422) rather than overflowing the database."""


Policy = Annotated[OrderPolicy, Depends(service_policy)]
"""The intake rules of this deployment (settings), set by app.py."""
Page = Annotated[PageRequest, Depends(page_request)]
AfterId = Annotated[int | None, Query(ge=0, le=MAX_ROW_ID, deprecated=True,
                                      description="Older paging, still read: rows after this id (use `cursor`)")]

router = APIRouter(tags=["orders"], route_class=ContractRoute)


@router.post("/orders", status_code=202, response_model=OrderSubmitted,
             responses={200: {"model": OrderSubmitted, "description": "Already accepted with the same content"}})
def place_order(order: OrderPlaced, work: Work, policy: Policy, key: IdempotencyKey) -> Any:
    """Validates and publishes to platform.orders: the same way in as platform events. 409 for an
    order id accepted with other content; the same request again with the same Idempotency-Key
    gets the first answer."""
    submissions: list[usecases.Submission] = []

    def submit(uow: UnitOfWork) -> OrderSubmitted:
        try:
            submission = usecases.submit_order(uow, order, policy=policy)
        except OrderInvalid as exc:
            raise Problem(422, "invalid-request", str(exc)) from exc
        submissions.append(submission)
        return OrderSubmitted(order_id=order.order_id, status=submission.outcome, event_id=submission.event_id)

    answer = create_once(work, "place-order", key, order, _status_of, submit)
    if not submissions:
        return answer  # the first answer to this Idempotency-Key, replayed
    if submissions[0].outcome == "conflict":  # after the commit, so the conflict stays recorded for operators
        raise Problem(409, "conflict", submissions[0].reason)
    return answer if answer.status == "submitted" else idempotent_response(200, answer)


def _status_of(answer: OrderSubmitted) -> int | None:
    """202 for a new submission, 200 for one already accepted; a conflict is not kept (it is
    answered 409 once its record has committed)."""
    return None if answer.status == "conflict" else 202 if answer.status == "submitted" else 200


@router.post("/orders/{order_id}/cancel", response_model=CancelAnswer)
def cancel_order(order_id: str, work: Work, request: CancelRequest | None = None) -> CancelAnswer:
    """Cancel before dispatch (R4); inventory releases the stock on the order.cancelled it causes.
    409 after dispatch (order.cancellation_refused says why)."""
    with work() as uow:
        result = usecases.cancel_order(uow, usecases.CancelOrder(order_id, request.reason if request else ""))
    if result.outcome == "unknown":
        raise Problem(404, "not-found", result.reason)
    if result.outcome == "refused":
        raise Problem(409, "conflict", result.reason)
    return CancelAnswer(order_id=order_id, status="cancelled", already_cancelled=result.outcome == "already_cancelled")


@router.get("/orders/{order_id}", response_model=OrderView | RejectedOrder)
def get_order(order_id: str, runtime: RuntimeDep) -> OrderView | RejectedOrder:
    """The order with its timeline, or a rejected order with its reason."""
    with read_session(runtime.engine) as session:
        view = usecases.order_view(session, order_id)
    if view is None:
        raise Problem(404, "not-found", f"no order {order_id}")
    return view


@router.get("/orders", response_model=OrderPage, responses=problem_responses(400))
def list_orders(runtime: RuntimeDep, page: Page, status: str | None = None, priority_class: str | None = None,
                customer_id: str | None = None) -> OrderPage:
    """In dispatch priority order; pass `next_cursor` back as `cursor` for the next page."""
    with read_session(runtime.engine) as session:
        return usecases.list_orders(session, page, status=status, priority_class=priority_class,
                                    customer_id=customer_id)


@router.get("/stats", response_model=Stats)
def stats(runtime: RuntimeDep) -> Stats:
    with read_session(runtime.engine) as session:
        return usecases.stats(session)


@router.get("/conflicts", response_model=ConflictPage, responses=problem_responses(400))
def conflicts(runtime: RuntimeDep, page: Page, order_id: str | None = None, after_id: AfterId = None) -> ConflictPage:
    """Re-sends of accepted orders with different content, refused (R3), oldest first."""
    with read_session(runtime.engine) as session:
        return usecases.conflicts(session, page, order_id=order_id, after_id=after_id)


@router.get("/rejections", response_model=RejectionPage, responses=problem_responses(400))
def rejections(runtime: RuntimeDep, page: Page, after_id: AfterId = None) -> RejectionPage:
    """Orders refused by validation, with their reasons, oldest first."""
    with read_session(runtime.engine) as session:
        return usecases.rejections(session, page, after_id=after_id)

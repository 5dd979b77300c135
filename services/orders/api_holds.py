"""HTTP routes of holds and the abuse rules (R6): support and admin list and release held orders
and orders needing attention; admin replaces the rules (who may call which: access.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from services.orders.abuse import AbuseRules
from services.orders.schemas_holds import HoldPage, ReleaseAnswer, ReleaseRequest, RulesAnswer
from services.orders.usecases import holds
from shared.db import read_session
from shared.http_app import RuntimeDep, Work
from shared.http_problems import ContractRoute, Problem, problem_responses
from shared.pagination import PageRequest, page_request

Page = Annotated[PageRequest, Depends(page_request)]

router = APIRouter(tags=["holds"], route_class=ContractRoute)


@router.post("/orders/{order_id}/release", response_model=ReleaseAnswer, responses=problem_responses(404, 409))
def release_order(order_id: str, work: Work, request: ReleaseRequest | None = None) -> ReleaseAnswer:
    """A held order goes on: `order.released`, then its `order.accepted` (same class and rank).
    Again for a released order: 200 with `already_released` and nothing published. 404 for an
    unknown order, 409 for one that is not held."""
    with work() as uow:
        result = holds.release_hold(uow, holds.ReleaseHold(order_id, request.note if request else ""))
    if result.outcome == "unknown":
        raise Problem(404, "not-found", result.reason)
    if result.outcome == "not_held":
        raise Problem(409, "conflict", result.reason)
    return ReleaseAnswer(order_id=order_id, status=result.status,
                         already_released=result.outcome == "already_released")


@router.get("/holds", response_model=HoldPage, responses=problem_responses(400))
def list_holds(runtime: RuntimeDep, page: Page,
               kind: Annotated[Literal["hold", "attention"] | None,
                               Query(description="`hold` (abuse guard) or `attention` (e.g. unknown sku)")] = None,
               ) -> HoldPage:
    """Held orders and orders needing attention, oldest first, each with its reason in words."""
    with read_session(runtime.engine) as session:
        return holds.open_holds(session, page, kind=kind)


@router.get("/abuse-rules", response_model=RulesAnswer)
def get_rules(runtime: RuntimeDep) -> RulesAnswer:
    """The abuse rules in force, with where they came from."""
    with read_session(runtime.engine) as session:
        answer = holds.rules_in_force(session)
    if answer is None:
        raise Problem(404, "not-found", "no abuse rules loaded: no rules file was given and none was PUT")
    return answer


@router.put("/abuse-rules", response_model=RulesAnswer)
def put_rules(rules: AbuseRules, work: Work) -> RulesAnswer:
    """Replace the abuse rules (every instance applies them from its next order); they stand
    over restarts until the next PUT. Orders already held stay held."""
    with work() as uow:
        return holds.replace_rules(uow, rules)

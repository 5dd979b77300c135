"""HTTP route of deposit presales: a balance paid over HTTP (who may call it: access.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.orders.schemas import BalanceAnswer, BalancePayment
from services.orders.usecases import presale as presale_usecases
from shared.events import OrderBalancePaid
from shared.http_app import Work
from shared.http_problems import ContractRoute, Problem, problem_responses
from shared.idempotency import IdempotencyKey, create_once
from shared.limits import ID_PATTERN
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["orders"], route_class=ContractRoute)

OrderId = Annotated[str, Path(pattern=ID_PATTERN, description="An order id (the id alphabet: a look-alike is refused)")]

# How each refusal is answered: the amount or the payment itself is wrong (422), or the order is
# not in a state to take it (409).
_STATUS = {"amount": 422, "invalid": 422, "not_deposit": 409, "state": 409, "late": 409}


@router.post("/orders/{order_id}/balance", response_model=BalanceAnswer, responses=problem_responses(404, 409, 422))
def pay_balance(order_id: OrderId, payment: BalancePayment, work: Work, key: IdempotencyKey) -> Any:
    """A deposit presale's balance, checked and applied as `order.balance_paid` is: 200 with the
    order's state, what was paid in all and its new rank (`order.balance_received` published), or
    `already_received` for the same payment again. 422 when `balance_amount` is not the balance
    due (the detail names the expected amount) or the payment predates the deposit; 404 for an
    order not accepted (yet); 409 for an order that awaits no balance, or a second, different
    balance. A balance paid after the window is refused (409) and closes the order
    `balance_unpaid`. `Idempotency-Key` as on POST /orders."""
    if payment.order_id is not None and payment.order_id != order_id:
        raise Problem(422, "invalid-request",
                      f"order_id {payment.order_id} in the body is not the order in the path ({order_id})")
    balance = OrderBalancePaid(order_id=order_id, balance_amount=payment.balance_amount, paid_at=payment.paid_at)
    results: list[presale_usecases.BalanceResult] = []

    def settle(uow: UnitOfWork) -> BalanceAnswer | None:
        result = presale_usecases.pay_balance(uow, balance)
        results.append(result)
        received = result.received
        if received is None:
            return None  # refused or unknown: answered below, once what it changed has committed
        return BalanceAnswer(order_id=order_id, status="received" if result.outcome == "received" else "already_received",
                             state=received.state, balance_amount=received.balance_amount,
                             paid_amount=received.paid_amount, balance_paid_at=received.balance_paid_at,
                             priority_rank=received.priority_rank)

    answer = create_once(work, "pay-balance", key, (order_id, payment), _status_of, settle)
    if not results:
        return answer  # the first answer to this Idempotency-Key, replayed
    result = results[0]
    if result.outcome == "unknown":
        raise Problem(404, "not-found", f"{result.reason} (a deposit just submitted with POST /orders is accepted "
                                        "within moments: send the balance again then)")
    if result.outcome == "refused":
        status = _STATUS[result.refusal]
        raise Problem(status, "invalid-request" if status == 422 else "conflict", result.reason)
    return answer


def _status_of(answer: BalanceAnswer | None) -> int | None:
    """A received balance's answer is kept for its Idempotency-Key; a refusal is not (the same
    request again is checked again)."""
    return 200 if answer is not None else None

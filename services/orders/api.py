"""HTTP routes of the orders service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from services.orders import commands, queries
from services.orders.domain import OrderInvalid, OrderPolicy, content_json, validate_order
from services.orders.origin import Origin, record_submission
from shared.auth import actor
from shared.events import OrderPlaced, ShortText, describe_validation_error
from shared.service import ServiceRuntime
from shared.topics import PLATFORM_ORDERS


MAX_ROW_ID = 2**63 - 1
"""Row ids are 64-bit: a larger `after_id` is refused (422) rather than overflowing the database."""


class CancelRequest(BaseModel):
    reason: ShortText = ""  # type: ignore[valid-type]  # what order.cancelled carries


def build_router(runtime: ServiceRuntime, policy: OrderPolicy) -> APIRouter:
    """Access per route is declared in services/orders/access.py and enforced app-wide."""
    router = APIRouter(tags=["orders"])

    def publisher(session: Session) -> commands.Publish:
        return lambda spec, type_, payload, key: runtime.outbox.publish(session, spec, type_, payload, key=key)

    @router.post("/orders", status_code=202)
    def place_order(body: dict[str, Any], http_request: Request) -> Any:
        """Validates and publishes to platform.orders: the same way in as platform events."""
        try:
            order = OrderPlaced.model_validate(body)
        except ValidationError as exc:
            raise HTTPException(422, describe_validation_error(exc)) from exc
        try:
            validate_order(order, policy)
        except OrderInvalid as exc:
            raise HTTPException(422, str(exc)) from exc
        origin = Origin(channel="http", source=actor(http_request))
        with runtime.transaction() as session:
            resend = commands.check_resend(session, order, now=runtime.clock.now(), origin=origin)
            if resend is None:
                event_id = runtime.outbox.publish(session, PLATFORM_ORDERS, "order.placed", order,
                                                  key=order.order_id)
                # So the consumer can name this caller, not the event's claimed source (origin.py).
                record_submission(session, event_id=event_id, order_id=order.order_id,
                                  content_json=content_json(order), actor=origin.actor, now=runtime.clock.now())
                return {"order_id": order.order_id, "event_id": event_id, "status": "submitted"}
        if resend.outcome == "conflict":
            # After the commit, so the conflict stays recorded for operators.
            raise HTTPException(409, resend.reason)
        return JSONResponse({"order_id": order.order_id, "status": "already_accepted"}, status_code=200)

    @router.post("/orders/{order_id}/cancel")
    def cancel_order(order_id: str, http_request: Request, request: CancelRequest | None = None) -> dict[str, Any]:
        """Cancel before dispatch (R4); inventory releases the stock on the order.cancelled it causes."""
        reason = request.reason if request else ""
        with runtime.transaction() as session:
            result = commands.cancel_order(session, order_id, reason, now=runtime.clock.now(),
                                           publish=publisher(session),
                                           origin=Origin(channel="http", source=actor(http_request)))
        if result.outcome == "unknown":
            raise HTTPException(404, result.reason)
        if result.outcome == "refused":
            raise HTTPException(409, result.reason)
        return {"order_id": order_id, "status": "cancelled", "already_cancelled": result.outcome == "already_cancelled"}

    @router.get("/orders/{order_id}")
    def get_order(order_id: str) -> dict[str, Any]:
        with Session(runtime.engine) as session:
            view = queries.order_view(session, order_id)
        if view is None:
            raise HTTPException(404, f"no order {order_id}")
        return view

    @router.get("/orders")
    def list_orders(status: str | None = None, priority_class: str | None = None, customer_id: str | None = None,
                    limit: int = Query(default=50), cursor: str | None = None) -> dict[str, Any]:
        """In dispatch priority order; pass `next_cursor` back as `cursor` for the next page."""
        with Session(runtime.engine) as session:
            return queries.list_orders(session, status=status, priority_class=priority_class,
                                       customer_id=customer_id, limit=limit, cursor=cursor)

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        with Session(runtime.engine) as session:
            return queries.stats(session)

    @router.get("/conflicts")
    def conflicts(order_id: str | None = None, limit: int = 100,
                  after_id: int | None = Query(default=None, ge=0, le=MAX_ROW_ID)) -> dict[str, Any]:
        """Re-sends of accepted orders with different content, refused (R3)."""
        with Session(runtime.engine) as session:
            return queries.conflicts(session, order_id=order_id, limit=limit, after_id=after_id)

    @router.get("/rejections")
    def rejections(limit: int = 100, after_id: int | None = Query(default=None, ge=0, le=MAX_ROW_ID)) -> dict[str, Any]:
        with Session(runtime.engine) as session:
            return queries.rejections(session, limit=limit, after_id=after_id)

    return router

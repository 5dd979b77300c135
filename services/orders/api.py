"""HTTP routes of the orders service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import ValidationError
from sqlmodel import Session, select

from services.orders.domain import OrderInvalid, OrderPolicy, validate_order
from services.orders.models import OrderRecord, OrderStep
from shared.events import OrderPlaced, describe_validation_error
from shared.service import ServiceRuntime
from shared.topics import PLATFORM_ORDERS


def build_router(runtime: ServiceRuntime, policy: OrderPolicy) -> APIRouter:
    router = APIRouter(tags=["orders"])

    @router.post("/orders", status_code=202)
    def place_order(body: dict[str, Any]) -> dict[str, str]:
        """Validates and publishes to platform.orders, the same way in as platform events."""
        try:
            order = OrderPlaced.model_validate(body)
        except ValidationError as exc:
            raise HTTPException(422, describe_validation_error(exc)) from exc
        try:
            validate_order(order, policy)
        except OrderInvalid as exc:
            raise HTTPException(422, str(exc)) from exc
        with runtime.unit_of_work() as session:
            event = runtime.outbox.publish(session, PLATFORM_ORDERS, "order.placed", order, key=order.order_id)
        return {"order_id": order.order_id, "event_id": event.id, "status": "submitted"}

    @router.get("/orders/{order_id}")
    def get_order(order_id: str) -> dict[str, Any]:
        with Session(runtime.engine) as session:
            record = session.get(OrderRecord, order_id)
            if record is None:
                raise HTTPException(404, f"no order {order_id}")
            steps = session.exec(select(OrderStep).where(OrderStep.order_id == order_id).order_by(OrderStep.id)).all()
            return {
                "order_id": record.order_id, "status": record.status, "priority_class": record.priority_class,
                "priority_rank": record.priority_rank, "paid_amount": f"{record.paid_amount:.2f}",
                "discount": f"{record.discount:.2f}", "currency": record.currency,
                "timeline": [{"status": s.status, "at": s.at.isoformat(), "event_id": s.event_id, "note": s.note}
                             for s in steps],
            }

    return router

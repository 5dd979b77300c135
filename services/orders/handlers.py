"""Kafka subscriptions of the orders service: decode -> domain -> save + outbox."""

from __future__ import annotations

import hashlib
import json
import logging

from services.orders.domain import OrderInvalid, OrderPolicy, priority_class, priority_rank, validate_order
from services.orders.models import OrderRecord, OrderStep
from shared.events import OrderAccepted, OrderPlaced, OrderRejected
from shared.messaging import HandlerContext, InvalidEvent
from shared.topics import ORDERS_EVENTS

log = logging.getLogger(__name__)


def content_hash(order: OrderPlaced) -> str:
    canonical = json.dumps(order.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_on_order_placed(policy: OrderPolicy):
    def on_order_placed(ctx: HandlerContext, order: OrderPlaced) -> None:
        try:
            validate_order(order, policy)
        except OrderInvalid as exc:
            reject(ctx, str(exc))
            return
        existing = ctx.session.get(OrderRecord, order.order_id)
        digest = content_hash(order)
        if existing is not None:
            if existing.content_hash == digest:
                return  # the same order sent again: harmless
            raise InvalidEvent(f"order {order.order_id} was already accepted with different content")
        klass = priority_class(order, policy)
        now = ctx.clock.now()
        accepted = OrderAccepted(
            order_id=order.order_id, customer_id=order.customer_id, order_type=order.order_type,
            priority_class=klass, priority_rank=priority_rank(klass, order.paid_at, order.order_id),
            lines=order.lines, discount=order.discount, paid_amount=order.paid_amount, paid_at=order.paid_at,
            region=order.region, currency=order.currency, deposit=order.deposit,
            balance_paid_at=order.balance_paid_at, promotions=order.promotions, accepted_at=now,
        )
        ctx.session.add(OrderRecord(
            order_id=order.order_id, customer_id=order.customer_id, order_type=order.order_type,
            priority_class=klass, priority_rank=accepted.priority_rank, status="accepted",
            paid_amount=order.paid_amount, discount=order.discount, currency=order.currency,
            region=order.region, paid_at=order.paid_at, accepted_at=now,
            content_json=order.model_dump_json(), content_hash=digest,
        ))
        ctx.session.add(OrderStep(order_id=order.order_id, status="accepted", at=now,
                                  event_id=ctx.event.id if ctx.event else None))
        ctx.publish(ORDERS_EVENTS, "order.accepted", accepted, key=order.order_id)

    return on_order_placed


def reject(ctx: HandlerContext, reason: str) -> None:
    """Tell the platform why (order.rejected) and keep the bad original on the dead-letter topic."""
    order_id = (ctx.event.data.get("order_id") if ctx.event else None)
    ctx.publish(ORDERS_EVENTS, "order.rejected",
                OrderRejected(order_id=order_id if isinstance(order_id, str) else None, reason=reason,
                              source_event_id=ctx.event.id if ctx.event else None),
                key=order_id if isinstance(order_id, str) else "unknown")
    ctx.dead_letter(reason)


def on_invalid_platform_message(ctx: HandlerContext, reason: str) -> None:
    """The message was dead-lettered before reaching a handler; still tell the platform."""
    order_id = ctx.event.data.get("order_id") if ctx.event else None
    ctx.publish(ORDERS_EVENTS, "order.rejected",
                OrderRejected(order_id=order_id if isinstance(order_id, str) else None, reason=reason,
                              source_event_id=ctx.event.id if ctx.event else None),
                key=order_id if isinstance(order_id, str) else "unknown")

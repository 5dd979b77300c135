"""Kafka subscriptions of the orders service: thin adapters from an event to a command."""

from __future__ import annotations

import logging

from services.orders import commands
from services.orders.commands import Origin
from services.orders.domain import OrderPolicy
from shared.events import Contract, OrderCancellationRefused, OrderCancelled, OrderPlaced, OrderRejected, data_field
from shared.messaging import Handler, HandlerContext
from shared.topics import ORDERS_EVENTS, PLATFORM_ORDERS, TopicSpec

log = logging.getLogger(__name__)


def _publisher(ctx: HandlerContext) -> commands.Publish:
    return lambda spec, type_, payload, key: ctx.publish(spec, type_, payload, key=key)


def _origin(ctx: HandlerContext, topic: str | None = None) -> Origin:
    event = ctx.event
    return Origin(channel="kafka", event_id=event.id if event else None, source=event.source if event else None,
                  topic=topic)


def make_on_order_placed(policy: OrderPolicy) -> Handler:
    def on_order_placed(ctx: HandlerContext, order: OrderPlaced) -> None:
        result = commands.place_order(ctx.session, order, policy, now=ctx.clock.now(), publish=_publisher(ctx),
                                      origin=_origin(ctx))
        if result.outcome == "rejected":
            commands.record_rejection(ctx.session, order.order_id, result.reason, now=ctx.clock.now(),
                                      event_id=ctx.event.id if ctx.event else None)
            reject(ctx, result.reason)
        elif result.outcome == "conflict":
            reject(ctx, result.reason)  # the conflict row is kept: dead_letter() commits

    return on_order_placed


def on_cancel_requested(ctx: HandlerContext, request: OrderCancelled) -> None:
    """The platform asks to cancel; refused after dispatch (the answer goes on orders.events)."""
    commands.cancel_order(ctx.session, request.order_id, request.reason, now=ctx.clock.now(),
                          publish=_publisher(ctx), origin=_origin(ctx, PLATFORM_ORDERS.name), park_if_unknown=True)


def make_lifecycle_handler(spec: TopicSpec, event_type: str) -> Handler:
    def on_lifecycle_event(ctx: HandlerContext, payload: Contract) -> None:
        commands.apply_lifecycle_event(ctx.session, event_type, payload, now=ctx.clock.now(),
                                       publish=_publisher(ctx), origin=_origin(ctx, spec.name))

    on_lifecycle_event.__name__ = "on_" + event_type.replace(".", "_")
    on_lifecycle_event.prepare_batch = commands.prefetch_lifecycle_states  # type: ignore[attr-defined]
    return on_lifecycle_event


def lifecycle_handlers(spec: TopicSpec, *event_types: str) -> dict[str, Handler]:
    return {event_type: make_lifecycle_handler(spec, event_type) for event_type in event_types}


def reject(ctx: HandlerContext, reason: str) -> None:
    """Tell the platform why (order.rejected) and keep the bad original on the dead-letter topic."""
    _publish_rejection(ctx, reason)
    ctx.dead_letter(reason)


def on_invalid_platform_message(ctx: HandlerContext, reason: str) -> None:
    """A platform message was dead-lettered before reaching a handler (not an event, or failing its
    contract); still tell the platform, on the event that answers what it asked for."""
    event = ctx.event
    order_id = data_field(event, "order_id") if event else None
    order_id = order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None
    if event is not None and event.type == "order.cancelled" and order_id:
        ctx.publish(ORDERS_EVENTS, "order.cancellation_refused",
                    OrderCancellationRefused(order_id=order_id, reason=reason, source_event_id=event.id,
                                             refused_at=ctx.clock.now()), key=order_id)
        return
    if event is None or event.type == "order.placed":
        commands.record_rejection(ctx.session, order_id, reason, now=ctx.clock.now(),
                                  event_id=event.id if event else None)
    _publish_rejection(ctx, reason)


def _publish_rejection(ctx: HandlerContext, reason: str) -> None:
    # An order id the contract refuses (e.g. 900 KB) is not echoed: as key and subject of the
    # answer it would break the envelope's limits and stall the consumer.
    order_id = data_field(ctx.event, "order_id") if ctx.event else None
    order_id = order_id if isinstance(order_id, str) and 0 < len(order_id) <= 64 else None
    ctx.publish(ORDERS_EVENTS, "order.rejected",
                OrderRejected(order_id=order_id, reason=reason, source_event_id=ctx.event.id if ctx.event else None),
                key=order_id or "unknown")

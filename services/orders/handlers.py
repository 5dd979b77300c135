"""Kafka subscriptions of the orders service: thin adapters from an event to a command."""

from __future__ import annotations

import logging
import re

from services.orders import commands
from services.orders.domain import OrderPolicy
from services.orders.origin import Origin
from shared.contract_types import reason_text
from shared.events import (Contract, OrderCancellationRefused, OrderCancellationRequested, OrderCancelled, OrderPlaced,
                           OrderRejected, data_field)
from shared.limits import ID_PATTERN
from shared.messaging import EventHandler, Handler, HandlerContext
from shared.topics import ORDERS_EVENTS, PLATFORM_ORDERS, TopicSpec

log = logging.getLogger(__name__)


def _publisher(ctx: HandlerContext) -> commands.Publish:
    return lambda spec, type_, payload, key: ctx.publish(payload, key=key)


def _origin(ctx: HandlerContext, topic: str) -> Origin:
    """The actor is `kafka:<topic> (source: <claimed>)`; place_order names the HTTP caller instead
    for an order this service itself wrote for one (origin.py)."""
    event = ctx.event
    return Origin(channel="kafka", event_id=event.id if event else None, source=event.source if event else None,
                  topic=topic)


def make_on_order_placed(policy: OrderPolicy) -> Handler:
    def on_order_placed(ctx: HandlerContext, order: OrderPlaced) -> None:
        result = commands.place_order(ctx.session, order, policy, now=ctx.clock.now(), publish=_publisher(ctx),
                                      origin=_origin(ctx, PLATFORM_ORDERS.name))
        if result.outcome == "rejected":
            commands.record_rejection(ctx.session, order.order_id, result.reason, now=ctx.clock.now(),
                                      event_id=ctx.event.id if ctx.event else None)
            reject(ctx, result.reason)
        elif result.outcome == "conflict":
            reject(ctx, result.reason)  # the conflict row is kept: dead_letter() commits

    return on_order_placed


CANCEL_REQUEST_TYPES = ("order.cancellation_requested", "order.cancelled")
"""A platform's cancel request: its own name, and the older one still accepted on platform.orders."""


def on_cancel_requested(ctx: HandlerContext, request: OrderCancellationRequested | OrderCancelled) -> None:
    """The platform asks to cancel; refused after dispatch (the answer goes on orders.events)."""
    commands.cancel_order(ctx.session, request.order_id, request.reason, now=ctx.clock.now(),
                          publish=_publisher(ctx), origin=_origin(ctx, PLATFORM_ORDERS.name), park_if_unknown=True)


def make_lifecycle_handler(spec: TopicSpec, event_type: str) -> Handler:
    def on_lifecycle_event(ctx: HandlerContext, payload: Contract) -> None:
        commands.apply_lifecycle_event(ctx.session, event_type, payload, now=ctx.clock.now(),
                                       publish=_publisher(ctx), origin=_origin(ctx, spec.name),
                                       batch_states=ctx.batch.read(commands.LIFECYCLE_STATES))

    on_lifecycle_event.__name__ = "on_" + event_type.replace(".", "_")
    return EventHandler(on_lifecycle_event, prefetch=commands.LIFECYCLE_STATES, name=on_lifecycle_event.__name__)


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
    order_id = _readable_order_id(ctx)
    if event is not None and event.type in CANCEL_REQUEST_TYPES and order_id:
        ctx.publish(OrderCancellationRefused(order_id=order_id, reason=reason_text(reason),
                                             source_event_id=_event_id(ctx), refused_at=ctx.clock.now()),
                    key=order_id)
        return
    if event is None or event.type == "order.placed":
        commands.record_rejection(ctx.session, order_id, reason, now=ctx.clock.now(),
                                  event_id=event.id if event else None)
    _publish_rejection(ctx, reason)


def _publish_rejection(ctx: HandlerContext, reason: str) -> None:
    order_id = _readable_order_id(ctx)
    ctx.publish(OrderRejected(order_id=order_id, reason=reason_text(reason), source_event_id=_event_id(ctx)),
                key=order_id or "unknown")


_ORDER_ID = re.compile(ID_PATTERN)


def _readable_order_id(ctx: HandlerContext) -> str | None:
    """The order id to echo, when it is a valid one. One the contract refuses (900 KB, a trailing
    space, a zero-width space) is not: as key and subject of the answer it would break the
    answer's own contract; the platform finds its answer by `source_event_id`."""
    order_id = data_field(ctx.event, "order_id") if ctx.event else None
    return order_id if isinstance(order_id, str) and _ORDER_ID.fullmatch(order_id) else None


def _event_id(ctx: HandlerContext) -> str | None:
    return ctx.event.id if ctx.event else None  # the envelope bounds it (200 characters)

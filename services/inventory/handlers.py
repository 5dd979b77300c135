"""Kafka subscriptions of the inventory service: thin; each builds a Stockkeeper on the handler's
transaction and outbox and calls one use case."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from services.inventory.domain import InventoryPolicy, StockLimitExceeded
from services.inventory.stockkeeping import Stockkeeper
from services.inventory.store import UnknownSku
from shared.messaging import Handler, HandlerContext, InvalidEvent
from shared.topics import AFTERSALES_CASES, LOGISTICS_SHIPMENTS, ORDERS_EVENTS, SUPPLIER_DELIVERIES, TopicSpec

log = logging.getLogger(__name__)

SUBSCRIPTIONS: dict[TopicSpec, tuple[str, ...]] = {
    # order.rejected and the other types on these topics are ignored (nothing reserved for them).
    ORDERS_EVENTS: ("order.accepted", "order.cancelled"),
    SUPPLIER_DELIVERIES: ("supplier.delivery",),
    AFTERSALES_CASES: ("return.received",),
    LOGISTICS_SHIPMENTS: ("shipment.dispatched",),
}
"""Everything this service consumes, in one place: topic -> the event types handled there."""


def actor_of(ctx: HandlerContext, topic: str) -> str:
    """Who caused a change, for the ledger: the topic the event came on (the broker's ACLs say
    who may write it) and the source its sender wrote (a claim, kept apart from the topic)."""
    return f"kafka:{topic}(source={ctx.event.source})" if ctx.event is not None else f"kafka:{topic}"


def make_handlers(policy: InventoryPolicy) -> dict[str, Handler]:
    """Event type -> handler, for every type in SUBSCRIPTIONS."""
    topic_of = {type_: spec.name for spec, types in SUBSCRIPTIONS.items() for type_ in types}

    def handler(type_: str, use_case: Callable[[Stockkeeper, Any], object]) -> Handler:
        def handle(ctx: HandlerContext, payload: Any) -> None:
            keeper = Stockkeeper(session=ctx.session, publish=lambda _spec, _type, payload, *, key: ctx.publish(payload, key=key), now=ctx.clock.now(), policy=policy,
                                 actor=actor_of(ctx, topic_of[type_]))
            with _refusals_are_invalid():
                outcome = use_case(keeper, payload)
            log.debug("%s: %s", type_, outcome)

        handle.__name__ = f"on_{type_.replace('.', '_')}"
        return handle

    return {
        "order.accepted": handler("order.accepted", Stockkeeper.reserve_order),
        "order.cancelled": handler("order.cancelled", Stockkeeper.release_order),
        "shipment.dispatched": handler("shipment.dispatched", Stockkeeper.ship_order),
        "supplier.delivery": handler("supplier.delivery", Stockkeeper.receive_delivery),
        "return.received": handler("return.received", Stockkeeper.restock_return),
    }


@contextmanager
def _refusals_are_invalid() -> Iterator[None]:
    """Events that can never be booked are kept on the dead-letter topic with the reason (and
    the consumer carries on): goods for a sku the catalog lacks (for a person to add the sku and
    replay it), or figures past the stock limit (MAX_STOCK_UNITS)."""
    try:
        yield
    except (UnknownSku, StockLimitExceeded) as exc:
        raise InvalidEvent(str(exc)) from exc

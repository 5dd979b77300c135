"""Kafka subscriptions of the inventory service: thin; each builds a Stockkeeper on the handler's
transaction and outbox and calls one use case."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from services.inventory.domain import InventoryPolicy
from services.inventory.stockkeeping import Stockkeeper
from services.inventory.store import UnknownSku
from shared.events import OrderAccepted, OrderCancelled, ReturnReceived, ShipmentDispatched, SupplierDelivery
from shared.messaging import Handler, HandlerContext, InvalidEvent

log = logging.getLogger(__name__)


def keeper(ctx: HandlerContext, policy: InventoryPolicy) -> Stockkeeper:
    return Stockkeeper(session=ctx.session, publish=ctx.publish, now=ctx.clock.now(), policy=policy)


def make_handlers(policy: InventoryPolicy) -> dict[str, Handler]:
    """Event type -> handler, for every type this service consumes."""

    def on_order_accepted(ctx: HandlerContext, order: OrderAccepted) -> None:
        outcome = keeper(ctx, policy).reserve_order(order)
        log.debug("order %s: %s", order.order_id, outcome)

    def on_order_cancelled(ctx: HandlerContext, cancellation: OrderCancelled) -> None:
        keeper(ctx, policy).release_order(cancellation)

    def on_shipment_dispatched(ctx: HandlerContext, dispatched: ShipmentDispatched) -> None:
        keeper(ctx, policy).ship_order(dispatched)

    def on_supplier_delivery(ctx: HandlerContext, delivery: SupplierDelivery) -> None:
        with _unknown_sku_is_invalid():
            keeper(ctx, policy).receive_delivery(delivery)

    def on_return_received(ctx: HandlerContext, received: ReturnReceived) -> None:
        with _unknown_sku_is_invalid():
            keeper(ctx, policy).restock_return(received)

    return {
        "order.accepted": on_order_accepted,
        "order.cancelled": on_order_cancelled,
        "shipment.dispatched": on_shipment_dispatched,
        "supplier.delivery": on_supplier_delivery,
        "return.received": on_return_received,
    }


@contextmanager
def _unknown_sku_is_invalid() -> Iterator[None]:
    """Goods for a sku the catalog lacks cannot be booked: keep the event on the dead-letter
    topic with the reason, for a person to add the sku and replay it."""
    try:
        yield
    except UnknownSku as exc:
        raise InvalidEvent(str(exc)) from exc

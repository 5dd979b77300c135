"""What the logistics service consumes: topic -> event type -> use case (usecases.py)."""

from __future__ import annotations

from services.logistics import store, usecases
from shared.messaging import Handler
from shared.topics import AFTERSALES_CASES, CARRIER_EVENTS, INVENTORY_RESERVATIONS, ORDERS_EVENTS, TopicSpec
from shared.unit_of_work import EventHandler

SUBSCRIPTIONS: dict[TopicSpec, dict[str, Handler]] = {
    INVENTORY_RESERVATIONS: {
        # A consumer batch of reservations asks at once which shipments exist and which orders
        # were withdrawn (store.SHIPMENT_OUTLOOKS), instead of once per order.
        "stock.reserved": EventHandler(usecases.queue_reserved_order, prefetch=store.SHIPMENT_OUTLOOKS,
                                       name="queue_reserved_order"),
    },
    ORDERS_EVENTS: {"order.cancelled": usecases.withdraw_cancelled_order,
                    "order.balance_received": usecases.apply_balance},
    CARRIER_EVENTS: {"carrier.delivery": usecases.apply_carrier_delivery},
    AFTERSALES_CASES: {"exchange.requested": usecases.queue_replacement},
}

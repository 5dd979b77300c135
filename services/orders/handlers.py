"""Kafka subscriptions of the orders service: topic -> event type -> use case (usecases/)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from services.orders import store, usecases
from services.orders.domain import EventRefused, OrderPolicy
from services.orders.usecases import presale as presale_usecases
from services.orders.store import holds as holds_store
from services.orders.usecases import traffic as traffic_usecases
from shared.messaging import EventHandler, Handler, InvalidEvent, InvalidHandler
from shared.topics import AFTERSALES_CASES, INVENTORY_RESERVATIONS, LOGISTICS_SHIPMENTS, PLATFORM_ORDERS, TopicSpec
from shared.topics import PLATFORM_TRAFFIC
from shared.unit_of_work import UnitOfWork


def _dead_lettering_refusals(use_case: Callable[[UnitOfWork, Any], Any]) -> Callable[[UnitOfWork, Any], Any]:
    """An event the order cannot have had is dead-lettered at once (no retries), nothing changed."""
    def handle(uow: UnitOfWork, payload: Any) -> Any:
        try:
            return use_case(uow, payload)
        except EventRefused as exc:
            raise InvalidEvent(str(exc)) from exc

    return handle


LIFECYCLE = EventHandler(_dead_lettering_refusals(usecases.apply_lifecycle_event), prefetch=store.LIFECYCLE_STATES,
                         name="apply_lifecycle_event")
"""Every lifecycle event; a consumer batch of them reads its orders' states at once."""


def subscriptions(policy: OrderPolicy) -> dict[TopicSpec, dict[str, Handler]]:
    """Everything this service consumes. `policy`: the service's intake settings."""
    return {
        PLATFORM_ORDERS: {
            # A batch of orders takes its customers' and addresses' locks first (abuse guard, R6).
            "order.placed": EventHandler(partial(usecases.place_order, policy=policy),
                                         prefetch=holds_store.SCREENING_LOCKS, name="place_order"),
            "order.cancellation_requested": usecases.request_cancellation,
            "order.cancelled": usecases.request_cancellation,  # the older name, still accepted
            "order.balance_paid": presale_usecases.receive_balance,  # a deposit presale's balance
        },
        INVENTORY_RESERVATIONS: dict.fromkeys(("stock.reserved", "stock.backordered", "stock.released",
                                               "stock.sku_unknown"), LIFECYCLE),
        LOGISTICS_SHIPMENTS: dict.fromkeys(("shipment.dispatched", "shipment.delivered", "shipment.exception"),
                                           LIFECYCLE),
        AFTERSALES_CASES: dict.fromkeys(("return.requested", "return.rejected", "return.received", "refund.issued"),
                                        LIFECYCLE),
        PLATFORM_TRAFFIC: {"traffic.counted": traffic_usecases.count_traffic},  # visitors, for conversion
    }


ON_INVALID: dict[TopicSpec, InvalidHandler] = {PLATFORM_ORDERS: usecases.answer_invalid_platform_message}
"""A dead-lettered platform message is still answered (order.rejected or order.cancellation_refused)."""

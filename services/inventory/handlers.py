"""Kafka subscriptions of the inventory service: topic -> event type -> use case, and the
translation of what the books can never take into a dead letter with the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.inventory import usecases, usecases_goods
from services.inventory.domain import InventoryPolicy, Unbookable
from services.inventory.store import UnknownSku
from shared.messaging import Handler, InvalidEvent
from shared.topics import AFTERSALES_CASES, LOGISTICS_SHIPMENTS, ORDERS_EVENTS, SUPPLIER_DELIVERIES, TopicSpec
from shared.unit_of_work import UnitOfWork

UseCase = Callable[[UnitOfWork, Any, InventoryPolicy], str]

SUBSCRIPTIONS: dict[TopicSpec, dict[str, UseCase]] = {
    # order.rejected and the other types on these topics are ignored (nothing reserved for them).
    ORDERS_EVENTS: {"order.accepted": usecases.reserve_order, "order.cancelled": usecases.release_order},
    SUPPLIER_DELIVERIES: {"supplier.delivery": usecases_goods.receive_delivery},
    AFTERSALES_CASES: {"return.received": usecases_goods.restock_return},
    LOGISTICS_SHIPMENTS: {"shipment.dispatched": usecases.ship_order},
}
"""Everything this service consumes, in one place."""


def handlers_for(spec: TopicSpec, policy: InventoryPolicy) -> dict[str, Handler]:
    """Event type -> handler, for the types SUBSCRIPTIONS lists on `spec`."""
    return {type_: _handler(spec, type_, use_case, policy) for type_, use_case in SUBSCRIPTIONS[spec].items()}


def _handler(spec: TopicSpec, type_: str, use_case: UseCase, policy: InventoryPolicy) -> Handler:
    def handle(uow: UnitOfWork, payload: Any) -> str:
        try:
            return use_case(uow, payload, policy)
        except (UnknownSku, Unbookable) as exc:
            # Never bookable as sent: goods for a sku the catalog lacks (for a person to add it
            # and replay the event), figures past the stock limit, a shelf made short by a
            # crossed cancellation. Kept on the dead-letter topic; the consumer carries on.
            raise InvalidEvent(str(exc)) from exc

    handle.__name__ = f"on_{type_.replace('.', '_')}"
    return handle

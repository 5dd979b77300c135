"""Composition root of the orders service."""

from fastapi import FastAPI

from services.orders.access import ACCESS
from services.orders import api, handlers
from services.orders.domain import OrderPolicy
from services.orders.handlers import lifecycle_handlers
from services.orders.models import TABLES
from services.orders.settings import OrdersSettings
from shared.http_app import create_http_app
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import AFTERSALES_CASES, INVENTORY_RESERVATIONS, LOGISTICS_SHIPMENTS, ORDERS_EVENTS, PLATFORM_ORDERS


def build_app(settings: OrdersSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    policy = OrderPolicy(high_value_threshold=settings.high_value_threshold,
                         accepted_currencies=frozenset(settings.accepted_currencies))
    # Everything this service consumes, in one place.
    runtime.subscribe(PLATFORM_ORDERS, {"order.placed": handlers.make_on_order_placed(policy),
                                        "order.cancellation_requested": handlers.on_cancel_requested,
                                        "order.cancelled": handlers.on_cancel_requested},  # its older name
                      on_invalid=handlers.on_invalid_platform_message)
    runtime.subscribe(INVENTORY_RESERVATIONS, lifecycle_handlers(
        INVENTORY_RESERVATIONS, "stock.reserved", "stock.backordered", "stock.released"))
    runtime.subscribe(LOGISTICS_SHIPMENTS, lifecycle_handlers(
        LOGISTICS_SHIPMENTS, "shipment.dispatched", "shipment.delivered", "shipment.exception"))
    runtime.subscribe(AFTERSALES_CASES, lifecycle_handlers(
        AFTERSALES_CASES, "return.requested", "return.rejected", "return.received", "refund.issued"))
    # ...and everything it publishes.
    runtime.document_publications(ORDERS_EVENTS, ["order.accepted", "order.rejected", "order.cancelled",
                                                  "order.cancellation_refused"])
    runtime.document_publications(PLATFORM_ORDERS, ["order.placed"])
    return create_http_app(runtime, [api.build_router(runtime, policy)], access=ACCESS,
                           title="Orders service",
                           description="Validated intake, priority and lifecycle of orders.")

"""Composition root of the orders service."""

from fastapi import FastAPI

from services.orders import api, api_promotions
from services.orders.access import ACCESS
from services.orders.domain import OrderPolicy
from services.orders.handlers import ON_INVALID, subscriptions
from services.orders.models import TABLES
from services.orders.settings import OrdersSettings
from services.orders.usecases.promotions import promotions_at_start
from shared.http_app import create_http_app
from shared.idempotency import forget_expired
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import ORDERS_EVENTS, PLATFORM_ORDERS


def build_app(settings: OrdersSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    policy = OrderPolicy(high_value_threshold=settings.high_value_threshold,
                         accepted_currencies=frozenset(settings.accepted_currencies))
    # Everything this service consumes (handlers.py)...
    for spec, handlers in subscriptions(policy).items():
        runtime.subscribe(spec, handlers, on_invalid=ON_INVALID.get(spec))
    # ...and everything it publishes.
    runtime.document_publications(ORDERS_EVENTS, ["order.accepted", "order.rejected", "order.cancelled",
                                                  "order.cancellation_refused"])
    runtime.document_publications(PLATFORM_ORDERS, ["order.placed"])

    def forget_old_idempotent_answers() -> None:
        with runtime.unit_of_work() as uow:
            forget_expired(uow.session, uow.now)

    runtime.on_start.append(forget_old_idempotent_answers)
    runtime.on_start.append(lambda: promotions_at_start(runtime, settings.promotions_file))
    app = create_http_app(runtime, [api.router, api_promotions.router], access=ACCESS, policy=policy,
                          title="Orders service", description="Validated intake, priority and lifecycle of orders.")
    return app

"""Composition root of the orders service."""

from fastapi import FastAPI

from services.orders import api, api_holds, api_presale, api_promotions, api_series
from services.orders.access import ACCESS
from services.orders.domain import OrderPolicy
from services.orders.handlers import ON_INVALID, subscriptions
from services.orders.models import TABLES
from services.orders.usecases.presale import close_overdue_deposits
from services.orders.settings import OrdersSettings
from services.orders.usecases import holds
from services.orders.usecases.promotions import promotions_at_start
from shared.http_app import create_http_app
from shared.idempotency import forget_expired
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import ORDERS_EVENTS, PLATFORM_ORDERS
from shared.unit_of_work import Actor

WINDOW_JOB = Actor("job", "presale-balance-window")


def build_app(settings: OrdersSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    policy = OrderPolicy(high_value_threshold=settings.high_value_threshold,
                         accepted_currencies=frozenset(settings.accepted_currencies),
                         presale=settings.presale_terms())
    # Everything this service consumes (handlers.py)...
    for spec, handlers in subscriptions(policy).items():
        runtime.subscribe(spec, handlers, on_invalid=ON_INVALID.get(spec))
    # ...and everything it publishes.
    runtime.document_publications(ORDERS_EVENTS, ["order.accepted", "order.rejected", "order.cancelled",
                                                  "order.cancellation_refused", "order.balance_received",
                                                  "order.deposit_forfeited", "order.held", "order.released"])
    runtime.document_publications(PLATFORM_ORDERS, ["order.placed"])

    def forget_old_idempotent_answers() -> None:
        with runtime.unit_of_work() as uow:
            forget_expired(uow.session, uow.now)

    runtime.on_start.append(forget_old_idempotent_answers)

    def close_unpaid_balances() -> str:
        """Deposit presales past their balance window: bounded batches, one transaction each."""
        closed = 0
        for _ in range(settings.presale_window_job_max_batches):
            with runtime.unit_of_work(WINDOW_JOB) as uow:
                batch = close_overdue_deposits(uow, limit=settings.presale_window_job_batch)
            closed += batch
            if batch < settings.presale_window_job_batch:
                break
        return f"closed {closed} deposit presales with their balance unpaid" if closed else ""

    runtime.every(settings.presale_window_job_interval_s, "presale-balance-window", close_unpaid_balances)
    if settings.abuse_rules_file is not None and str(settings.abuse_rules_file) not in ("", "."):
        rules_file = settings.abuse_rules_file
        rules = holds.read_rules_file(rules_file)  # a bad rules file stops start-up with the reason

        def load_abuse_rules() -> None:
            with runtime.unit_of_work(Actor("rules", rules_file.name)) as uow:
                holds.load_rules_at_start(uow, rules, f"file:{rules_file.name}")

        runtime.on_start.append(load_abuse_rules)
    runtime.on_start.append(lambda: promotions_at_start(runtime, settings.promotions_file))
    app = create_http_app(runtime, [api.router, api_presale.router, api_holds.router, api_promotions.router,
                                   api_series.router],
                          access=ACCESS, policy=policy, title="Orders service",
                          description="Validated intake, priority and lifecycle of orders.")
    return app

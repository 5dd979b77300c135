"""Composition root of the inventory service."""

from fastapi import FastAPI
from sqlmodel import Session, select

from services.inventory import api, store
from services.inventory.access import ACCESS
from services.inventory.domain import is_low
from services.inventory.catalog import load_catalog
from services.inventory.handlers import SUBSCRIPTIONS, make_handlers
from services.inventory.models import TABLES, InventorySku
from services.inventory.settings import InventorySettings
from services.inventory.stockkeeping import Stockkeeper
from shared.http_app import create_http_app
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import INVENTORY_RESERVATIONS, INVENTORY_STOCK

__all__ = ["ACCESS", "build_app"]  # ACCESS: services/inventory/access.py, read from here by older callers


def export_stock_gauges(runtime: ServiceRuntime, policy) -> None:  # type: ignore[no-untyped-def]
    """R9/R26 on the dashboard: how many skus are below their replenishment threshold."""

    def low_skus() -> float:
        with Session(runtime.engine) as session:
            rows = session.exec(select(InventorySku)).all()
            return float(sum(1 for row in rows if is_low(store.sku_state(row), policy)))

    runtime.metrics.gauge_from("stock_low_skus", "Skus whose available stock is below the threshold", low_skus)


def build_app(settings: InventorySettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    policy = settings.policy()
    handlers = make_handlers(policy)
    for spec, types in SUBSCRIPTIONS.items():  # everything this service consumes (handlers.py)
        runtime.subscribe(spec, {t: handlers[t] for t in types})
    export_stock_gauges(runtime, policy)
    runtime.document_publications(INVENTORY_RESERVATIONS, ["stock.reserved", "stock.backordered", "stock.released"])
    runtime.document_publications(INVENTORY_STOCK, ["replenishment.requested", "sku.mode_changed"])

    if settings.catalog_path is not None:
        entries = load_catalog(settings.catalog_path)  # a bad catalog stops start-up with the reason
        actor = f"catalog:{settings.catalog_path.name}"

        def load() -> None:
            with runtime.transaction() as session:
                def publish(spec, type_, payload, *, key):  # type: ignore[no-untyped-def]
                    return runtime.outbox.publish(session, spec, type_, payload, key=key)
                keeper = Stockkeeper(session=session, publish=publish, now=runtime.clock.now(), policy=policy,
                                     actor=actor)
                for entry in entries:
                    keeper.upsert_sku(entry, from_catalog=True)

        runtime.on_start.append(load)

    return create_http_app(runtime, [api.build_router(runtime, policy)], title="Inventory service",
                           description="Stock ledger, all-or-nothing reservation, backorders, replenishment, "
                                       "sell-out playbook.", access=ACCESS)

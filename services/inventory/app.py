"""Composition root of the inventory service."""

from datetime import timedelta

from fastapi import FastAPI

from services.inventory import api, api_stock, api_warehouses, store
from services.inventory import usecases_goods as usecases
from services.inventory.access import ACCESS
from services.inventory.catalog import load_catalog
from services.inventory.domain import InventoryPolicy, is_low
from services.inventory.handlers import SUBSCRIPTIONS, handlers_for
from services.inventory.models import TABLES
from services.inventory.settings import InventorySettings
from services.inventory.stock_snapshots import schedule_snapshots
from services.inventory.warehouses import load_warehouses
from shared.db import read_session
from shared.http_app import create_http_app
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import INVENTORY_RESERVATIONS, INVENTORY_STOCK
from shared.unit_of_work import Actor

__all__ = ["ACCESS", "build_app"]  # ACCESS: services/inventory/access.py, read from here by older callers


def export_stock_gauges(runtime: ServiceRuntime, policy: InventoryPolicy) -> None:
    """R9/R26 on the dashboard: how many skus are below their replenishment threshold."""

    def low_skus() -> float:
        with read_session(runtime.engine) as session:
            return float(sum(1 for row in store.all_skus(session) if is_low(store.sku_state(row), policy)))

    runtime.metrics.gauge_from("stock_low_skus", "Skus whose available stock is below the threshold", low_skus)


def build_app(settings: InventorySettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    policy = settings.policy()
    for spec in SUBSCRIPTIONS:  # everything this service consumes (handlers.py)
        runtime.subscribe(spec, handlers_for(spec, policy))
    export_stock_gauges(runtime, policy)
    schedule_snapshots(runtime, policy, period=timedelta(hours=settings.stock_snapshot_period_hours),
                       interval_s=settings.stock_snapshot_check_interval_s)
    runtime.document_publications(INVENTORY_RESERVATIONS, ["stock.reserved", "stock.backordered", "stock.released",
                                                          "stock.sku_unknown"])
    runtime.document_publications(INVENTORY_STOCK, ["replenishment.requested", "sku.mode_changed"])

    def forget_expired_answers() -> None:
        with runtime.transaction() as session:
            store.forget_expired_answers(session, runtime.clock.now())

    runtime.on_start.append(forget_expired_answers)

    # Warehouses before the catalogue: its rows name them. A bad file stops start-up with the reason.
    warehouses = load_warehouses(settings.warehouses_path) if settings.warehouses_path is not None else None

    def load_warehouse_table() -> None:
        with runtime.transaction() as session:
            now = runtime.clock.now()
            for warehouse in warehouses or []:
                store.save_warehouse(session, warehouse, now=now)
            store.ensure_default_warehouse(session, now=now)
        store.forget_ranking()

    runtime.on_start.append(load_warehouse_table)

    if settings.catalog_path is not None:
        entries = load_catalog(settings.catalog_path)  # a bad catalog stops start-up with the reason
        catalog = Actor("catalog", settings.catalog_path.name)

        def load() -> None:
            with runtime.unit_of_work(catalog) as uow:
                usecases.load_catalog(uow, entries, policy)

        runtime.on_start.append(load)

    # api_stock first: its /stock/snapshots must not be taken for /stock/{sku} of api.router.
    routers = [api_stock.router, api_warehouses.router, api.router]
    app = create_http_app(runtime, routers, policy=policy, title="Inventory service",
                          description="Stock ledger, all-or-nothing reservation, backorders, replenishment, "
                                      "sell-out playbook.", access=ACCESS)
    app.add_exception_handler(store.UnknownSku, api.unknown_sku)
    return app

"""Composition root of the logistics service."""

from __future__ import annotations

import json

from fastapi import FastAPI
from sqlmodel import Session

from services.logistics import api, handlers, store
from services.logistics.domain import SlaTargets, sla_counts
from services.logistics.carriers import CarrierTable
from services.logistics.models import TABLES
from services.logistics.operations import CarrierDesk
from services.logistics.settings import LogisticsSettings
from services.logistics.access import ACCESS
from shared.http_app import create_http_app
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import AFTERSALES_CASES, CARRIER_EVENTS, INVENTORY_RESERVATIONS, LOGISTICS_SHIPMENTS, ORDERS_EVENTS


def load_carrier_table(settings: LogisticsSettings) -> CarrierTable:
    """Read at start-up, so a broken table stops the service with the reason instead of
    failing hand-overs later."""
    path = settings.carriers_path()
    data = json.loads(path.read_text(encoding="utf-8"))
    return CarrierTable.from_dict(data, settings.carrier_capacities)


def export_sla_gauges(runtime: ServiceRuntime, settings: LogisticsSettings) -> None:
    """R14 on the dashboard: the shares shipped within 24h and 48h of all orders paid so far."""
    targets = SlaTargets(settings.target_within_24h_pct, settings.target_within_48h_pct)

    def share(key: str) -> float:
        with Session(runtime.engine) as session:
            counts = sla_counts(store.sla_orders(session), runtime.clock.now(), targets)
        return counts[key] / counts["orders_paid"] if counts["orders_paid"] else 0.0

    runtime.metrics.gauge_from("sla_shipped_within_24h_ratio", "Share of paid orders shipped within 24h (0-1)",
                               lambda: share("shipped_within_24h"))
    runtime.metrics.gauge_from("sla_shipped_within_48h_ratio", "Share of paid orders shipped within 48h (0-1)",
                               lambda: share("shipped_within_48h"))


def build_app(settings: LogisticsSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    desk = CarrierDesk(load_carrier_table(settings), settings.warehouse_utc_offset_h)
    # Everything this service consumes, in one place.
    runtime.subscribe(INVENTORY_RESERVATIONS, {"stock.reserved": handlers.on_stock_reserved})
    runtime.subscribe(ORDERS_EVENTS, {"order.cancelled": handlers.on_order_cancelled})
    runtime.subscribe(CARRIER_EVENTS, {"carrier.delivery": handlers.on_carrier_delivery})
    runtime.subscribe(AFTERSALES_CASES, {"exchange.requested": handlers.on_exchange_requested})
    runtime.document_publications(LOGISTICS_SHIPMENTS, ["shipment.dispatched", "shipment.delivered",
                                                        "shipment.exception"])
    export_sla_gauges(runtime, settings)
    return create_http_app(runtime, [api.build_router(runtime, settings, desk)], access=ACCESS,
                           title="Logistics service",
                           description="Priority pick waves, hand-over to carriers, delivery and exceptions, "
                                       "and live tracking of the 80%-in-24h / 95%-in-48h target.")

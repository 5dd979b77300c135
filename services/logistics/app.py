"""Composition root of the logistics service."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI

from services.logistics import (api, api_dock, api_plan, api_search, api_series, sla_gauge, sla_store,
                                sla_warehouse_gauge)
from services.logistics.access import ACCESS
from services.logistics.carriers import CarrierDesk, CarrierTable
from services.logistics.handlers import SUBSCRIPTIONS
from services.logistics.models import TABLES
from services.logistics.plan import Plan, PlanInvalid, plan_from_json
from services.logistics.settings import LogisticsPolicy, LogisticsSettings
from shared.db import read_session
from shared.http_app import create_http_app
from shared.idempotency import forget_expired
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import LOGISTICS_NOTIFICATIONS, LOGISTICS_SHIPMENTS


def load_carrier_table(settings: LogisticsSettings) -> CarrierTable:
    """Read at start-up, so a broken table stops the service with the reason instead of
    failing hand-overs later."""
    path = settings.carriers_path()
    data = json.loads(path.read_text(encoding="utf-8"))
    return CarrierTable.from_dict(data, settings.carrier_capacities)


def load_plan(settings: LogisticsSettings) -> Plan | None:
    """The event's plan from LOGISTICS_PLAN_PATH, read at start-up: a bad one stops the service
    with the field named (PlanInvalid)."""
    if not settings.plan_path:
        return None
    path = Path(settings.plan_path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PlanInvalid(f"LOGISTICS_PLAN_PATH {path}: cannot be read: {exc.strerror}") from exc
    return plan_from_json(text, f"LOGISTICS_PLAN_PATH {path}")


def export_sla_gauges(runtime: ServiceRuntime) -> None:
    """R14 on the dashboard: the shares shipped within 24h and 48h of all orders paid so far."""
    def share(key: str) -> float:
        # The shares need no clock: the running totals alone (sla_tally.py), not every shipment.
        with read_session(runtime.engine) as session:
            hours = sla_store.paid_hours(session)
        paid = sum(row.paid for row in hours)
        return sum(getattr(row, key) for row in hours) / paid if paid else 0.0

    runtime.metrics.gauge_from("sla_shipped_within_24h_ratio", "Share of paid orders shipped within 24h (0-1)",
                               lambda: share("shipped_within_24h"))
    runtime.metrics.gauge_from("sla_shipped_within_48h_ratio", "Share of paid orders shipped within 48h (0-1)",
                               lambda: share("shipped_within_48h"))


def forget_expired_answers(runtime: ServiceRuntime) -> None:
    """Idempotency-Key answers are kept a day (shared/idempotency.py), then dropped at start-up."""
    with runtime.transaction() as session:
        forget_expired(session, runtime.clock.now())


def build_app(settings: LogisticsSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    policy = LogisticsPolicy(settings, CarrierDesk(load_carrier_table(settings), settings.warehouse_utc_offset_h),
                             load_plan(settings))
    for spec, handlers in SUBSCRIPTIONS.items():
        runtime.subscribe(spec, handlers)
    runtime.document_publications(LOGISTICS_SHIPMENTS, ["shipment.dispatched", "shipment.delivered",
                                                        "shipment.exception"])
    runtime.document_publications(LOGISTICS_NOTIFICATIONS, ["customer.notification_requested"])
    runtime.on_start.append(lambda: forget_expired_answers(runtime))
    export_sla_gauges(runtime)
    sla_gauge.export(runtime, policy)
    sla_warehouse_gauge.export(runtime)
    app = create_http_app(runtime, [api.router, api_search.router, api_dock.router, api_series.router,
                                    api_plan.router],
                          access=ACCESS, policy=policy,
                          title="Logistics service",
                          description="Priority pick waves, hand-over to carriers, delivery and exceptions, "
                                      "and live tracking of the 80%-in-24h / 95%-in-48h target.")
    return app

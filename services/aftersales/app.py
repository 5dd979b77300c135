"""Composition root of the aftersales service."""

from fastapi import FastAPI

from services.aftersales import api, handlers
from services.aftersales.models import TABLES
from services.aftersales.settings import AftersalesSettings
from services.aftersales.access import ACCESS
from shared.http_app import create_http_app
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import AFTERSALES_CASES, LOGISTICS_SHIPMENTS, ORDERS_EVENTS


def build_app(settings: AftersalesSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    # Everything this service consumes, in one place.
    runtime.subscribe(ORDERS_EVENTS, {"order.accepted": handlers.on_order_accepted})
    runtime.subscribe(LOGISTICS_SHIPMENTS, {"shipment.delivered": handlers.on_shipment_delivered,
                                            "shipment.exception": handlers.on_shipment_exception})
    runtime.document_publications(AFTERSALES_CASES, [
        "return.requested", "return.approved", "return.arrived", "return.received", "refund.issued",
        "exchange.requested", "return.rejected"])
    return create_http_app(runtime, [api.build_router(runtime, settings)], access=ACCESS, title="Aftersales service",
                           description="Seven-day returns and exchanges, the gift rule, 48-hour case handling, "
                                       "disputes first, refunds of what was paid (R19-R23).")

"""Composition root of the aftersales service."""

from datetime import timedelta

from fastapi import FastAPI

from services.aftersales import api, api_complaints, handlers, store
from services.aftersales.complaints import ComplaintRefused
from services.aftersales.access import ACCESS
from services.aftersales.domain import Refusal
from services.aftersales.models import TABLES
from services.aftersales.settings import AftersalesSettings
from shared.db import read_session
from shared.http_app import create_http_app
from shared.service import ServiceRuntime
from shared.settings import KafkaSettings
from shared.topics import AFTERSALES_CASES


def build_app(settings: AftersalesSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    for spec, subscribed in handlers.SUBSCRIPTIONS:
        runtime.subscribe(spec, subscribed)
    runtime.document_publications(AFTERSALES_CASES, [
        "return.requested", "return.approved", "return.arrived", "return.received", "refund.issued",
        "exchange.requested", "return.rejected"])

    def forget_expired_answers() -> None:
        with runtime.transaction() as session:
            store.forget_expired_answers(session, runtime.clock.now())

    runtime.on_start.append(forget_expired_answers)

    def cases_at_risk() -> float:
        # R21 on /metrics: unhandled cases within `at_risk_hours` of their 48 h deadline, or past it.
        with read_session(runtime.engine) as session:
            return store.count_unhandled_due_by(session, runtime.clock.now() + timedelta(hours=settings.at_risk_hours))

    runtime.metrics.gauge_from("aftersales_cases_at_risk", "Cases not handled yet whose 48-hour deadline is within "
                               "AFTERSALES_AT_RISK_HOURS or past", cases_at_risk)
    app = create_http_app(runtime, [api.router, api_complaints.router], access=ACCESS, policy=settings, title="Aftersales service",
                          description="Seven-day returns and exchanges, the gift rule, 48-hour case handling, "
                                      "disputes first, refunds of what was paid (R19-R23).")
    app.add_exception_handler(Refusal, api.refused)
    app.add_exception_handler(ComplaintRefused, api_complaints.refused)
    return app

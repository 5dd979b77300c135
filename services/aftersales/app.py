"""Composition root of the aftersales service."""

from fastapi import FastAPI

from services.aftersales.models import TABLES
from services.aftersales.settings import AftersalesSettings
from shared.service import ServiceRuntime, create_http_app
from shared.settings import KafkaSettings


def build_app(settings: AftersalesSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    return create_http_app(runtime, [], title="Aftersales service")

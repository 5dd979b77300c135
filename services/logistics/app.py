"""Composition root of the logistics service."""

from fastapi import FastAPI

from services.logistics.models import TABLES
from services.logistics.settings import LogisticsSettings
from shared.service import ServiceRuntime, create_http_app
from shared.settings import KafkaSettings


def build_app(settings: LogisticsSettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    return create_http_app(runtime, [], title="Logistics service")

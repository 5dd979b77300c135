"""Composition root of the inventory service."""

from fastapi import FastAPI

from services.inventory.models import TABLES
from services.inventory.settings import InventorySettings
from shared.service import ServiceRuntime, create_http_app
from shared.settings import KafkaSettings


def build_app(settings: InventorySettings, kafka: KafkaSettings) -> FastAPI:
    runtime = ServiceRuntime(settings, kafka, TABLES)
    return create_http_app(runtime, [], title="Inventory service")

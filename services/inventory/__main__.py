"""python -m services.inventory: runs the inventory service (Kafka consumers, outbox relay, HTTP API)."""

from services.inventory.app import build_app
from services.inventory.settings import InventorySettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = InventorySettings()
    serve(build_app(settings, KafkaSettings()), settings)

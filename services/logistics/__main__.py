"""python -m services.logistics: runs the logistics service (Kafka consumers, outbox relay, HTTP API)."""

from services.logistics.app import build_app
from services.logistics.settings import LogisticsSettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = LogisticsSettings()
    serve(build_app(settings, KafkaSettings()), settings)

"""python -m services.aftersales: runs the aftersales service (Kafka consumers, outbox relay, HTTP API)."""

from services.aftersales.app import build_app
from services.aftersales.settings import AftersalesSettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = AftersalesSettings()
    serve(build_app(settings, KafkaSettings()), settings)

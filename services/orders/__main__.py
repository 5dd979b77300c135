"""python -m services.orders: runs the orders service (Kafka consumers, outbox relay, HTTP API)."""

from services.orders.app import build_app
from services.orders.settings import OrdersSettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = OrdersSettings()
    serve(build_app(settings, KafkaSettings()), settings)

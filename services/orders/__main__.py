"""python -m services.orders: runs the orders service (Kafka consumers, outbox relay, HTTP API).
`python -m services.orders migrate` only brings its database schema up to date."""

import sys

from services.orders.app import build_app
from services.orders.settings import OrdersSettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = OrdersSettings()
    app = build_app(settings, KafkaSettings())
    if sys.argv[1:] == ["migrate"]:
        app.state.runtime.migrate()
        print(f"{settings.service_name}: database schema is up to date")
    else:
        serve(app, settings)

"""python -m services.orders: runs the orders service (Kafka consumers, outbox relay, HTTP API).
`python -m services.orders migrate` only brings its database schema up to date."""

from services.orders.app import build_app
from services.orders.settings import OrdersSettings
from shared.service import main

if __name__ == "__main__":
    main(build_app, OrdersSettings)

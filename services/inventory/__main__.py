"""python -m services.inventory: runs the inventory service (Kafka consumers, outbox relay, HTTP API).
`python -m services.inventory migrate` only brings its database schema up to date."""

from services.inventory.app import build_app
from services.inventory.settings import InventorySettings
from shared.service import main

if __name__ == "__main__":
    main(build_app, InventorySettings)

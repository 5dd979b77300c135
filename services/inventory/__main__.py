"""python -m services.inventory: runs the inventory service (Kafka consumers, outbox relay, HTTP API).
`python -m services.inventory migrate` only brings its database schema up to date."""

import sys

from services.inventory.app import build_app
from services.inventory.settings import InventorySettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = InventorySettings()
    app = build_app(settings, KafkaSettings())
    if sys.argv[1:] == ["migrate"]:
        app.state.runtime.migrate()
        print(f"{settings.service_name}: database schema is up to date")
    else:
        serve(app, settings)

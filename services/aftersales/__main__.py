"""python -m services.aftersales: runs the aftersales service (Kafka consumers, outbox relay, HTTP API).
`python -m services.aftersales migrate` only brings its database schema up to date."""

import sys

from services.aftersales.app import build_app
from services.aftersales.settings import AftersalesSettings
from shared.service import serve
from shared.settings import KafkaSettings

if __name__ == "__main__":
    settings = AftersalesSettings()
    app = build_app(settings, KafkaSettings())
    if sys.argv[1:] == ["migrate"]:
        app.state.runtime.migrate()
        print(f"{settings.service_name}: database schema is up to date")
    else:
        serve(app, settings)

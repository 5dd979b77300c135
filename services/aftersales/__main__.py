"""python -m services.aftersales: runs the aftersales service (Kafka consumers, outbox relay, HTTP API).
`python -m services.aftersales migrate` only brings its database schema up to date."""

from services.aftersales.app import build_app
from services.aftersales.settings import AftersalesSettings
from shared.service import main

if __name__ == "__main__":
    main(build_app, AftersalesSettings)

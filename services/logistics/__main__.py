"""python -m services.logistics: runs the logistics service (Kafka consumers, outbox relay, HTTP API).
`python -m services.logistics migrate` only brings its database schema up to date."""

from services.logistics.app import build_app
from services.logistics.settings import LogisticsSettings
from shared.service import main

if __name__ == "__main__":
    main(build_app, LogisticsSettings)

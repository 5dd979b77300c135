"""Prometheus metrics every service exports on /metrics (one registry per service instance)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.events_consumed = Counter("events_consumed_total", "Events consumed, by topic and type",
                                       ["topic", "type"], **labels)
        self.events_published = Counter("events_published_total", "Events published from the outbox, by topic",
                                        ["topic"], **labels)
        self.dead_letters = Counter("dead_letters_total", "Messages sent to a dead-letter topic, by source topic",
                                    ["topic"], **labels)
        self.duplicates = Counter("events_duplicate_total", "Redelivered events recognised by the inbox",
                                  ["topic"], **labels)
        self.handler_seconds = Histogram("handler_seconds", "Time to process one consumed message",
                                         ["topic"], **labels)
        self.outbox_backlog = Gauge("outbox_backlog", "Outbox rows not yet published", **labels)
        self.outbox_refused = Counter("outbox_refused_total", "Outbox rows the broker refuses for good (kept "
                                      "in the outbox as `refused`), by topic", ["topic"], **labels)
        self.outbox_refused_rows = Gauge("outbox_refused_rows", "Outbox rows kept as `refused`", **labels)
        self.consumer_stalled = Gauge("consumer_stalled", "1 while a partition has had lag and no progress "
                                      "for longer than the stall limit", ["topic", "partition"], **labels)
        self.info = Gauge("service_info", "Constant 1, labelled with the service name", ["service"], **labels)
        self.info.labels(service=service).set(1)

    def gauge_from(self, name: str, documentation: str, read: "Callable[[], float]") -> None:
        """A business gauge (SLA share, low-stock count) read from the database at scrape time, so
        every instance reports the same figure and nothing has to keep it up to date."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)

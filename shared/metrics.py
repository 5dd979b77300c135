"""Prometheus metrics every service exports on /metrics (one registry per service instance).

Every name the project defines starts with PREFIX (`peak_`), so its series are told apart from
any other exporter's on a shared Prometheus; the process and Python runtime collectors keep their
standard names (`process_cpu_seconds_total`, `python_gc_*`), which dashboards already know."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (CollectorRegistry, Counter, Gauge, GCCollector, Histogram, PlatformCollector,
                               ProcessCollector, generate_latest)
from prometheus_client import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST

PREFIX = "peak_"

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; the intake's target is p99 <= 100 ms (docs/benchmarks.md), so most buckets are below."""


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        # A fresh registry has none of the default ones' collectors: CPU, memory, open files,
        # start time and the Python runtime's, which an operator looks at first.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = {"registry": self.registry}
        self.events_consumed = Counter(PREFIX + "events_consumed_total", "Events consumed, by topic and type",
                                       ["topic", "type"], **labels)
        self.events_published = Counter(PREFIX + "events_published_total", "Events published from the outbox, by topic",
                                        ["topic"], **labels)
        self.dead_letters = Counter(PREFIX + "dead_letters_total", "Messages sent to a dead-letter topic, by source topic",
                                    ["topic"], **labels)
        self.duplicates = Counter(PREFIX + "events_duplicate_total", "Redelivered events recognised by the inbox",
                                  ["topic"], **labels)
        self.handler_seconds = Histogram(PREFIX + "handler_seconds", "Time to process one consumed message",
                                         ["topic"], **labels)
        self.outbox_backlog = Gauge(PREFIX + "outbox_backlog", "Outbox rows not yet published", **labels)
        self.outbox_refused = Counter(PREFIX + "outbox_refused_total", "Outbox rows the broker refuses for good (kept "
                                      "in the outbox as `refused`), by topic", ["topic"], **labels)
        self.outbox_refused_rows = Gauge(PREFIX + "outbox_refused_rows", "Outbox rows kept as `refused`", **labels)
        self.consumer_stalled = Gauge(PREFIX + "consumer_stalled", "1 while a partition has had lag and no progress "
                                      "for longer than the stall limit", ["topic", "partition"], **labels)
        self.info = Gauge(PREFIX + "service_info", "Constant 1, labelled with the service name", ["service"], **labels)
        self.info.labels(service=service).set(1)
        self.http_seconds = Histogram(PREFIX + "http_request_duration_seconds",
                                      "HTTP requests answered, by method, route template and status",
                                      ["method", "route", "status"], buckets=HTTP_BUCKETS, **labels)

    def gauge_from(self, name: str, documentation: str, read: "Callable[[], float]") -> None:
        """A business gauge (SLA share, low-stock count) read from the database at scrape time, so
        every instance reports the same figure and nothing has to keep it up to date."""
        Gauge(PREFIX + name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)

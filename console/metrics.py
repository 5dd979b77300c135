"""The console's own /metrics (Prometheus): pages served, sign-ins, calls refused by services."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class ConsoleMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.requests = Counter("console_requests_total", "Requests, by route and status", ["route", "status"],
                                **labels)
        self.seconds = Histogram("console_request_seconds", "Time to answer, by route", ["route"], **labels)
        self.signins = Counter("console_signins_total", "Sign-in attempts, by outcome", ["outcome"], **labels)
        self.upstream_errors = Counter("console_upstream_errors_total",
                                       "Calls to a service that failed, by service and kind (status, timeout, "
                                       "unreachable)", ["service", "kind"], **labels)

    def render(self) -> bytes:
        return generate_latest(self.registry)

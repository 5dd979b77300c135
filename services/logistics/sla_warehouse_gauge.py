"""The 24h/48h shares per warehouse on /metrics (issue 34): `peak_sla_warehouse_shipped_within_
24h_ratio{warehouse="east"}` and the 48h one, each part counted by its own hand-over, read at
scrape time from the per-warehouse running totals (sla_tally.py) as the overall gauges read theirs.
A collector, because the shared `gauge_from` has no labels."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.logistics import sla_store
from shared.db import read_session
from shared.metrics import PREFIX
from shared.service import ServiceRuntime


class WarehouseShares(Collector):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # nothing read at registration; the names are the collector's own

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with read_session(self._runtime.engine) as session:
            found = sla_store.warehouse_paid_hours(session)
        for key, hours_text in (("shipped_within_24h", "24h"), ("shipped_within_48h", "48h")):
            family = GaugeMetricFamily(f"{PREFIX}sla_warehouse_{key}_ratio",
                                       f"Share of a warehouse's paid parts shipped within {hours_text} (0-1)",
                                       labels=["warehouse"])
            for warehouse, hours in sorted(found.items()):
                paid = sum(row.paid for row in hours)
                family.add_metric([warehouse], sum(getattr(row, key) for row in hours) / paid if paid else 0.0)
            yield family


def export(runtime: ServiceRuntime) -> None:
    runtime.metrics.registry.register(WarehouseShares(runtime))

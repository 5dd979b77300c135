"""The projected 24h share as a gauge (`peak_sla_projected_within_24h_ratio`), for the alert that
R14's 80% will be missed (deploy/prometheus/alerts.yml): the same projection GET /sla and the
console's gauge judge by (forecast.projected_within_24h at the default staffing), as a number.

It replays the dispatch queue, so a scrape every 5 s would replay it every 5 s: the figure is
kept for `projection_refresh_s` (as GET /sla keeps its own)."""

from __future__ import annotations

import time

from services.logistics import forecast, sla_store, sla_tally
from services.logistics.settings import LogisticsPolicy
from shared.db import read_session
from shared.service import ServiceRuntime


def projected_within_24h_ratio(runtime: ServiceRuntime, policy: LogisticsPolicy) -> float:
    """0-1: orders projected to ship within 24h of payment over every order counted (shipped,
    queued and still expected within the forecast horizon); 1.0 before any order."""
    settings = policy.settings
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        hours = sla_store.paid_hours(session)
        cut_24h, cut_48h = sla_tally.late_cuts(now)
        overall = sla_tally.summarise(hours, sla_store.late_cut(session, cut_24h), sla_store.late_cut(session, cut_48h),
                                      policy.targets)
        data = forecast.from_counts(now, paid=overall["orders_paid"], shipped_within_24h=overall["shipped_within_24h"],
                                    shipped_late=overall["shipped"] - overall["shipped_within_24h"],
                                    first_paid=sla_store.first_paid_at(session, hours),
                                    queue_deadlines=sla_store.unshipped_deadlines_in_dispatch_order(session, now),
                                    horizon_h=settings.forecast_horizon_h)
    in_time, total = forecast.projected_within_24h(data, settings.default_pickers * settings.default_picks_per_hour)
    return in_time / total if total else 1.0


def export(runtime: ServiceRuntime, policy: LogisticsPolicy) -> None:
    kept: list[float] = []  # [monotonic time, value] of the last figure

    def read() -> float:
        refresh_s = 0.0 if policy.settings.clock == "settable" else policy.settings.projection_refresh_s
        if not kept or time.monotonic() - kept[0] >= refresh_s:
            kept[:] = [time.monotonic(), projected_within_24h_ratio(runtime, policy)]
        return kept[1]

    runtime.metrics.gauge_from("sla_projected_within_24h_ratio", "Share of orders projected to ship within 24h of "
                               "payment (shipped, queued and expected), at the default pickers (0-1)", read)

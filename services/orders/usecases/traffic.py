"""Traffic from the platform (platform.traffic) and the war room's series (issue 30): load ->
decide (services/orders/traffic.py) -> save; the series read groups in SQL (store/traffic.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from services.orders import series
from services.orders.schemas_series import OrdersSeries, SeriesPoint, SeriesTotals
from services.orders.store import traffic as traffic_store
from services.orders.traffic import Outcome, decide
from shared.time_buckets import bucket_range
from shared.traffic_events import TrafficCounted
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def count_traffic(uow: UnitOfWork, counted: TrafficCounted) -> Outcome:
    """Keep a window's visitors; another event for the same window corrects its figure."""
    event_id = uow.event.id if uow.event is not None else ""
    counted_at = uow.event.time if uow.event is not None else uow.now
    kept = traffic_store.kept_figure(uow.session, counted.window_start, counted.window_seconds)
    outcome = decide(kept, counted.visitors, event_id, counted_at)
    figure = dict(window_start=counted.window_start, window_seconds=counted.window_seconds,
                  visitors=counted.visitors, event_id=event_id, counted_at=counted_at, now=uow.now)
    if outcome == "counted":
        traffic_store.add_window(uow.session, **figure)
    elif outcome == "corrected":
        traffic_store.correct_window(uow.session, **figure)
        log.info("traffic window %s (%ss) corrected: %s -> %s visitors (event %s)", counted.window_start.isoformat(),
                 counted.window_seconds, kept.visitors if kept else None, counted.visitors, event_id)
    elif outcome == "stale":
        log.info("traffic window %s (%ss): event %s is older than the figure kept; not applied",
                 counted.window_start.isoformat(), counted.window_seconds, event_id)
    return outcome


def orders_series(session: Session, *, bucket: str, since: datetime | None, until: datetime | None,
                  now: datetime) -> OrdersSeries:
    """Raises shared.time_buckets.RangeRefused for a range it will not answer."""
    buckets = bucket_range(bucket, since, until, now)
    orders = traffic_store.orders_per_bucket(session, buckets)
    visitors = traffic_store.visitors_per_bucket(session, buckets)
    totals = series.totals(buckets, orders, visitors)
    return OrdersSeries(bucket=bucket, since=buckets.since, until=buckets.until, now=now,
                        points=[SeriesPoint(**vars(p)) for p in series.points(buckets, orders, visitors)],
                        totals=SeriesTotals(**vars(totals)))

"""GET /sla/series (issue 30): dispatch speed and the 24h/48h shares over time, per minute or hour,
for the war room (who may call it: access.py; arithmetic: sla_series.py; SQL: series_store.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from services.logistics import series_store, sla_series
from services.logistics.schemas import Moment, Targets
from services.logistics.settings import LogisticsPolicy
from shared.db import read_session
from shared.http_app import RuntimeDep, service_policy
from shared.http_problems import ContractRoute, Problem, problem_responses
from shared.time_buckets import RangeRefused, bucket_range

router = APIRouter(tags=["sla"], route_class=ContractRoute)
Policy = Annotated[LogisticsPolicy, Depends(service_policy)]


class SlaSeriesPoint(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    start: Moment
    end: Moment
    dispatched: int
    """Parcels handed to a carrier in the bucket (dispatch speed)"""
    paid: int
    """Orders paid in the bucket"""
    orders_paid: int
    """Orders paid before the bucket's end"""
    shipped_within_24h: int
    """Of those, shipped before the bucket's end and within 24h of payment"""
    shipped_within_48h: int
    within_24h_pct: float | None
    """shipped_within_24h / orders_paid in percent, one decimal; null before any order"""
    within_48h_pct: float | None


class SlaSeries(BaseModel):
    bucket: str
    since: Moment
    until: Moment
    now: Moment
    targets: Targets
    points: list[SlaSeriesPoint]


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@router.get("/sla/series", response_model=SlaSeries, responses=problem_responses(400))
def sla_series_view(runtime: RuntimeDep, policy: Policy,
                    bucket: Literal["minute", "hour"] = Query(default="minute"),
                    since: datetime | None = Query(default=None, description="Start (rounded down to its bucket); "
                                                   "default: an hour of minutes or a day of hours before `until`"),
                    until: datetime | None = Query(default=None, description="End (rounded up to its bucket); "
                                                   "default: the end of the current bucket")) -> SlaSeries:
    """Per bucket: parcels dispatched, orders paid, and the share of orders paid so far that
    shipped within 24h / 48h as it stood at the bucket's end, with the targets. At most 1,440
    buckets; 400 beyond, or for a time without a time zone."""
    now = runtime.clock.now()
    try:
        buckets = bucket_range(bucket, since, until, now)
    except RangeRefused as exc:
        raise Problem(400, "invalid-request", str(exc)) from exc
    with read_session(runtime.engine) as session:
        before = series_store.counts_before(session, buckets)
        counts = series_store.per_bucket(session, buckets)
    targets = policy.targets
    return SlaSeries(bucket=bucket, since=buckets.since, until=buckets.until, now=now,
                     targets=Targets(within_24h_pct=targets.within_24h_pct, within_48h_pct=targets.within_48h_pct),
                     points=[SlaSeriesPoint(**{**vars(p), "within_24h_pct": _pct(p.within_24h_pct),
                                               "within_48h_pct": _pct(p.within_48h_pct)})
                             for p in sla_series.points(buckets, before, counts)])

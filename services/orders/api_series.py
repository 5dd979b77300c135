"""GET /stats/series (issue 30): the war room's orders, GMV, basket and conversion per minute or
hour (who may call it: access.py; shape: schemas_series.py; arithmetic: series.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query

from services.orders.schemas_series import OrdersSeries
from services.orders.usecases.traffic import orders_series
from shared.db import read_session
from shared.http_app import RuntimeDep
from shared.http_problems import ContractRoute, Problem, problem_responses
from shared.time_buckets import RangeRefused

router = APIRouter(tags=["stats"], route_class=ContractRoute)


@router.get("/stats/series", response_model=OrdersSeries, responses=problem_responses(400))
def stats_series(runtime: RuntimeDep,
                 bucket: Literal["minute", "hour"] = Query(default="minute"),
                 since: datetime | None = Query(default=None, description="Start (rounded down to its bucket); "
                                                "default: an hour of minutes or a day of hours before `until`"),
                 until: datetime | None = Query(default=None, description="End (rounded up to its bucket); "
                                                "default: the end of the current bucket")) -> OrdersSeries:
    """Per bucket: orders paid, GMV gross and net of refunds, average basket, visitors and
    conversion (orders / visitors of the traffic windows inside the bucket). At most
    1,440 buckets (MAX_BUCKETS); 400 beyond, or for a time without a time zone."""
    try:
        with read_session(runtime.engine) as session:
            return orders_series(session, bucket=bucket, since=since, until=until, now=runtime.clock.now())
    except RangeRefused as exc:
        raise Problem(400, "invalid-request", str(exc)) from exc

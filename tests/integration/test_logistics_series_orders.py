"""The war room's series (series_store.py) count an order split over warehouses once, as GET
/sla does (issue 34): for random orders (whole ones from any warehouse, split ones with each part
shipped, withdrawn or left on its own, replacements, presales; written as in
test_logistics_sla_totals.py), the SQL counts before a range and per bucket equal the counts of
the orders the SLA's definition reads (sla_store.sla_orders), in minute and hour buckets."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from services.logistics import series_store, sla_store
from shared.db import create_tables, make_engine, transaction
from shared.time_buckets import bucket_range
from tests.integration.test_logistics_sla_totals import BASE, TABLES, shipment_plans, write

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(tmp_path_factory, databases):
    url = databases("t_series_orders") if databases else f"sqlite:///{tmp_path_factory.mktemp('s') / 'db.sqlite'}"
    engine = make_engine(url)
    create_tables(engine, [table.__table__ for table in TABLES])
    yield engine
    engine.dispose()


def _index(moment: datetime, seconds: int) -> int:
    return int(moment.timestamp()) // seconds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(shipment_plans, min_size=0, max_size=30), bucket=st.sampled_from(["minute", "hour"]),
       since_min=st.integers(-72 * 60, 48 * 60))
def test_the_series_counts_each_order_once_as_the_sla_does(engine, plans, bucket, since_min) -> None:
    with transaction(engine) as session:
        for table in TABLES:
            session.exec(delete(table))
    with transaction(engine) as session:
        for n, plan in enumerate(plans):
            write(session, n, plan | {"rolled_back": False})
    since = BASE + timedelta(minutes=since_min)
    span = timedelta(hours=20) if bucket == "minute" else timedelta(hours=72)
    r = bucket_range(bucket, since, since + span, since + span)
    with transaction(engine) as session:
        orders = sla_store.sla_orders(session)
        before = series_store.counts_before(session, r)
        counts = series_store.per_bucket(session, r)
    start, end = r.since, r.until

    def on_time(o, hours: int) -> bool:  # noqa: ANN001
        return o.shipped_at is not None and o.shipped_at <= o.paid_at + timedelta(hours=hours)

    assert before.paid == sum(1 for o in orders if o.paid_at < start)
    assert before.within_24h == sum(1 for o in orders if on_time(o, 24) and o.shipped_at < start)
    assert before.within_48h == sum(1 for o in orders if on_time(o, 48) and o.shipped_at < start)

    def per_bucket(moments: list[datetime]) -> dict[int, int]:
        found: dict[int, int] = {}
        for moment in moments:
            if start <= moment < end:
                found[_index(moment, r.seconds)] = found.get(_index(moment, r.seconds), 0) + 1
        return found

    assert {k: v for k, v in counts.paid.items() if v} == per_bucket([o.paid_at for o in orders])
    assert counts.within_24h == per_bucket([o.shipped_at for o in orders if on_time(o, 24)])
    assert counts.within_48h == per_bucket([o.shipped_at for o in orders if on_time(o, 48)])

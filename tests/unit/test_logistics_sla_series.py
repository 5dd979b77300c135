"""The war room's dispatch series (issue 30): the cumulative 24h/48h shares at bucket ends, at
the deadlines' edges, and the SQL grouping on a real (SQLite) database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from services.logistics import series_store, sla_series, sla_store
from services.logistics.models import Shipment
from services.logistics.sla_series import Before, PerBucket
from shared.db import PlatformSession, make_engine
from shared.migrations import upgrade
from shared.time_buckets import bucket_range

T = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_shares_accumulate_from_the_counts_before_the_range() -> None:
    r = bucket_range("hour", T, T + 3 * H, T)
    i = r.first
    points = sla_series.points(r, Before(paid=4, within_24h=2, within_48h=3),
                               PerBucket(dispatched={i: 5, i + 2: 1}, paid={i: 4, i + 1: 2},
                                         within_24h={i: 3, i + 2: 1}, within_48h={i: 3, i + 1: 1}))
    assert [(p.start, p.end) for p in points] == [(T, T + H), (T + H, T + 2 * H), (T + 2 * H, T + 3 * H)]
    assert [p.dispatched for p in points] == [5, 0, 1]
    assert [p.paid for p in points] == [4, 2, 0]
    assert [p.orders_paid for p in points] == [8, 10, 10]
    assert [p.shipped_within_24h for p in points] == [5, 5, 6]
    assert [p.within_24h_pct for p in points] == [Decimal("62.5"), Decimal("50.0"), Decimal("60.0")]
    assert [p.within_48h_pct for p in points] == [Decimal("75.0"), Decimal("70.0"), Decimal("70.0")]


def test_no_share_before_any_order_is_paid() -> None:
    r = bucket_range("minute", T, T + timedelta(minutes=2), T)
    points = sla_series.points(r, Before(), PerBucket({}, {}, {}, {}))
    assert [(p.orders_paid, p.within_24h_pct, p.within_48h_pct) for p in points] == [(0, None, None)] * 2


@pytest.fixture()
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'logistics.sqlite'}")
    upgrade(engine, "logistics")
    with PlatformSession(engine, expire_on_commit=False) as s:  # as shared.db.transaction opens them
        yield s


def _shipment(session: Session, n: int, paid_at: datetime, shipped_at: datetime | None, *, status: str = "shipped",
              replacement: str | None = None, withdrawn: bool = False) -> None:
    shipment = Shipment(shipment_id=f"SHP-{n}", order_id=f"O-{n}", replacement_for_case=replacement,
                        order_type="standard", priority_class="standard", class_order=2, priority_rank=f"2-{n}",
                        region="Shanghai", lines_json="[]", weight_kg=Decimal("1"), volume_l=Decimal("1"),
                        paid_at=paid_at, deadline_24h=paid_at + 24 * H, deadline_48h=paid_at + 48 * H,
                        created_at=paid_at, status=status,
                        shipped_at=shipped_at, withdrawn_at=T if withdrawn else None)
    session.add(shipment)
    # As store.add_shipment does: the running totals (hours of orders paid) change with the row.
    sla_store.count_change(session, None, sla_store.fields_of(shipment))


def test_sql_counts_dispatches_and_on_time_shipments_per_bucket(session) -> None:
    day = 24 * H
    _shipment(session, 1, T - day, T - day + 24 * H)  # shipped exactly at its 24h deadline: within 24h, at T
    _shipment(session, 2, T - day, T + timedelta(microseconds=1))  # 1 us late for 24h, within 48h
    _shipment(session, 3, T - 2 * day + H, T + H)  # exactly at its 48h deadline, in the second hour
    _shipment(session, 4, T + timedelta(minutes=10), None, status="queued")  # paid, not shipped
    _shipment(session, 5, T - H, T + timedelta(minutes=30), replacement="CASE-1")  # dispatched, not an SLA order
    _shipment(session, 6, T - H, None, status="queued", withdrawn=True)  # withdrawn: counted nowhere
    _shipment(session, 7, T - 3 * H, T - 2 * H)  # before the range: in the starting counts
    session.commit()
    r = bucket_range("hour", T, T + 2 * H, T)
    before = series_store.counts_before(session, r)
    assert before == Before(paid=4, within_24h=1, within_48h=1)  # orders 1, 2, 3 and 7 paid before T
    counts = series_store.per_bucket(session, r)
    i = r.first
    assert counts.dispatched == {i: 3, i + 1: 1}  # 1, 2, 5 in the first hour; 3 in the second
    assert counts.paid == {i: 1}
    assert counts.within_24h == {i: 1}
    assert counts.within_48h == {i: 2, i + 1: 1}
    points = sla_series.points(r, before, counts)
    assert [p.within_24h_pct for p in points] == [Decimal("40.0"), Decimal("40.0")]  # 2 of 5
    assert [p.within_48h_pct for p in points] == [Decimal("60.0"), Decimal("80.0")]  # 3, then 4 of 5

"""The war room's series arithmetic (issue 30): buckets at their edges, conversion, corrections
of traffic windows, and the SQL grouping on a real (SQLite) database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import Session

from services.orders import series
from services.orders.models import OrderRecord
from services.orders.store import traffic as traffic_store
from services.orders.traffic import KeptFigure, conversion, decide
from services.orders.usecases.traffic import orders_series
from shared.db import make_engine
from shared.migrations import upgrade
from shared.time_buckets import MAX_BUCKETS, RangeRefused, bucket_range, epoch_us, floor_to

T = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)


# -- ranges ---------------------------------------------------------------------------------------

def test_default_range_is_the_last_hour_of_minutes_up_to_the_current_minute() -> None:
    r = bucket_range("minute", None, None, T + timedelta(seconds=30))
    assert (r.since, r.until, r.count) == (T - timedelta(minutes=59), T + timedelta(minutes=1), 60)


def test_default_range_of_hours_is_a_day() -> None:
    r = bucket_range("hour", None, None, T + timedelta(minutes=5))
    assert (r.since, r.until, r.count) == (T - timedelta(hours=23), T + timedelta(hours=1), 24)


def test_now_on_a_bucket_edge_starts_a_new_bucket() -> None:
    assert bucket_range("minute", None, None, T).until == T + timedelta(minutes=1)


def test_until_is_rounded_up_and_since_down() -> None:
    r = bucket_range("minute", T + timedelta(seconds=59), T + timedelta(minutes=2, seconds=1), T)
    assert (r.since, r.until, r.count) == (T, T + timedelta(minutes=3), 3)
    exact = bucket_range("minute", T, T + timedelta(minutes=2), T)
    assert (exact.since, exact.until, exact.count) == (T, T + timedelta(minutes=2), 2)


def test_other_offsets_are_read_as_the_same_instant() -> None:
    shanghai = timezone(timedelta(hours=8))
    r = bucket_range("hour", datetime(2026, 11, 11, 8, 0, tzinfo=shanghai), datetime(2026, 11, 11, 10, 0,
                                                                                       tzinfo=shanghai), T)
    assert (r.since, r.count) == (T, 2)


def test_at_most_max_buckets() -> None:
    assert bucket_range("minute", T, T + timedelta(minutes=MAX_BUCKETS), T).count == MAX_BUCKETS
    with pytest.raises(RangeRefused, match="at most 1440"):
        bucket_range("minute", T, T + timedelta(minutes=MAX_BUCKETS + 1), T)
    with pytest.raises(RangeRefused, match="at most 1440"):
        bucket_range("minute", T, T + timedelta(minutes=MAX_BUCKETS, seconds=1), T)
    assert bucket_range("hour", T, T + timedelta(hours=MAX_BUCKETS), T).count == MAX_BUCKETS


@pytest.mark.parametrize("since, until", [(T, T), (T + timedelta(minutes=1), T)])
def test_since_must_be_before_until(since, until) -> None:
    with pytest.raises(RangeRefused, match="before"):
        bucket_range("minute", since, until, T)


def test_naive_times_and_unknown_buckets_are_refused() -> None:
    with pytest.raises(RangeRefused, match="time zone"):
        bucket_range("minute", T.replace(tzinfo=None), None, T)
    with pytest.raises(RangeRefused, match="time zone"):
        bucket_range("minute", None, T.replace(tzinfo=None), T)
    with pytest.raises(RangeRefused, match="bucket"):
        bucket_range("day", None, None, T)


@pytest.mark.parametrize("moment", [datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC),
                                    datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
def test_times_outside_the_calendar_kept_are_refused(moment) -> None:
    with pytest.raises(RangeRefused, match="between 1970"):
        bucket_range("hour", moment, None, T)
    with pytest.raises(RangeRefused, match="between 1970"):
        bucket_range("hour", None, moment, T)


def test_the_edges_of_the_calendar_kept_are_answered() -> None:
    assert bucket_range("hour", datetime(1970, 1, 1, tzinfo=UTC), None, datetime(1970, 1, 1, 5, tzinfo=UTC)).first == 0
    last = datetime(8999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert bucket_range("hour", None, last, T).until == datetime(9000, 1, 1, tzinfo=UTC)


def test_floor_and_epoch_helpers() -> None:
    assert floor_to(T + timedelta(minutes=61, seconds=5), 3600) == T + timedelta(hours=1)
    assert epoch_us(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005


# -- conversion and corrections -------------------------------------------------------------------

def test_conversion_is_orders_per_visitor_to_six_places() -> None:
    assert conversion(3, 1200) == Decimal("0.002500")
    assert conversion(2, 3) == Decimal("0.666667")  # rounded half up
    assert conversion(1, 1) == Decimal("1.000000")
    assert conversion(0, 5) == Decimal("0.000000")
    assert conversion(5, None) is None
    assert conversion(5, 0) is None


def test_a_new_window_is_counted_another_event_corrects_it_an_older_one_does_not() -> None:
    kept = KeptFigure(100, "E-1", T)
    assert decide(None, 100, "E-1", T) == "counted"
    assert decide(kept, 100, "E-1", T) == "unchanged"
    assert decide(kept, 90, "E-2", T) == "corrected"  # same moment: the later arrival wins
    assert decide(kept, 90, "E-2", T + timedelta(seconds=1)) == "corrected"
    assert decide(kept, 90, "E-2", T - timedelta(microseconds=1)) == "stale"


# -- points and totals ----------------------------------------------------------------------------

def test_points_fill_every_bucket_and_do_the_sums() -> None:
    r = bucket_range("minute", T, T + timedelta(minutes=3), T)
    first = r.first
    points = series.points(r, {first: (2, 10000, 2500), first + 2: (1, 3333, 0)}, {first: 400, first + 1: 0})
    assert [p.start for p in points] == [T, T + timedelta(minutes=1), T + timedelta(minutes=2)]
    a, b, c = points
    assert (a.orders, a.gmv, a.gmv_net, a.average_basket, a.visitors, a.conversion) == (
        2, Decimal("100.00"), Decimal("75.00"), Decimal("50.00"), 400, Decimal("0.005000"))
    assert (b.orders, b.gmv, b.average_basket, b.visitors, b.conversion) == (0, Decimal("0.00"), None, 0, None)
    assert (c.orders, c.average_basket, c.visitors, c.conversion) == (1, Decimal("33.33"), None, None)
    totals = series.totals(r, {first: (2, 10000, 2500), first + 2: (1, 3333, 0), first + 3: (9, 1, 0)},
                           {first: 400, first + 1: 0})
    # Rows outside the range are not counted; conversion only over buckets that had traffic.
    assert (totals.orders, totals.gmv, totals.gmv_net, totals.visitors, totals.orders_with_traffic,
            totals.conversion, totals.average_basket) == (
        3, Decimal("133.33"), Decimal("108.33"), 400, 2, Decimal("0.005000"), Decimal("44.44"))
    empty = series.totals(r, {}, {})
    assert (empty.visitors, empty.conversion, empty.average_basket) == (None, None, None)


def test_average_basket_rounds_half_to_cents() -> None:
    assert series.average(10001, 2) == Decimal("50.00")  # 50.005 to the cent, as shared.money does it
    assert series.average(1, 3) == Decimal("0.00")
    assert series.average(0, 0) is None
    assert series.money(-5) == Decimal("-0.05")


# -- the SQL grouping ---------------------------------------------------------------------------

@pytest.fixture()
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'orders.sqlite'}")
    upgrade(engine, "orders")
    with Session(engine) as s:
        yield s


def _order(session: Session, order_id: str, paid_at: datetime, cents: int, *, refunded: int = 0,
           status: str = "accepted") -> None:
    session.add(OrderRecord(order_id=order_id, customer_id="C-1", order_type="standard", priority_class="standard",
                            priority_rank=f"2-{order_id}", status=status, paid_amount=Decimal(cents) / 100,
                            paid_cents=cents, discount=Decimal("0"), currency="CNY", region="Shanghai",
                            paid_at=paid_at, accepted_at=paid_at, status_changed_at=paid_at, content_json="{}",
                            content_hash="h", refunded_cents=refunded))


def _window(session: Session, start: datetime, seconds: int, visitors: int) -> None:
    traffic_store.add_window(session, window_start=start, window_seconds=seconds, visitors=visitors,
                             event_id=f"E-{start.isoformat()}-{seconds}", counted_at=start, now=start)


def test_sql_groups_orders_by_the_minute_they_were_paid_in(session) -> None:
    _order(session, "O-1", T, 1000)
    _order(session, "O-2", T + timedelta(seconds=59, microseconds=999999), 2000, refunded=500)
    _order(session, "O-3", T + timedelta(minutes=1), 4000)
    _order(session, "O-4", T + timedelta(seconds=10), 9900, status="cancelled")  # not counted
    _order(session, "O-5", T - timedelta(microseconds=1), 7700)  # before the range
    _order(session, "O-6", T + timedelta(minutes=2), 100)  # at until: outside
    session.commit()
    answer = orders_series(session, bucket="minute", since=T, until=T + timedelta(minutes=2), now=T)
    assert [(p.orders, str(p.gmv), str(p.gmv_net)) for p in answer.points] == [(2, "30.00", "25.00"),
                                                                               (1, "40.00", "40.00")]
    hours = orders_series(session, bucket="hour", since=T - timedelta(hours=1), until=T + timedelta(hours=1), now=T)
    assert [p.orders for p in hours.points] == [1, 4]


def test_sql_counts_the_traffic_windows_lying_inside_a_bucket(session) -> None:
    _order(session, "O-1", T + timedelta(seconds=5), 1000)
    _window(session, T, 60, 200)  # exactly the first minute
    _window(session, T + timedelta(minutes=1), 30, 50)  # the first half of the second minute
    _window(session, T + timedelta(minutes=1, seconds=30), 30, 70)  # its second half, ending on the edge
    _window(session, T + timedelta(minutes=2, seconds=30), 60, 999)  # across the edge of minutes 3 and 4: neither
    session.commit()
    answer = orders_series(session, bucket="minute", since=T, until=T + timedelta(minutes=4), now=T)
    assert [p.visitors for p in answer.points] == [200, 120, None, None]
    assert answer.points[0].conversion == Decimal("0.005000")
    assert answer.points[1].conversion == Decimal("0.000000")
    assert answer.totals.conversion == Decimal("0.003125")  # 1 order / 320 visitors
    assert (answer.totals.visitors, answer.totals.orders_with_traffic) == (320, 1)
    hour = orders_series(session, bucket="hour", since=T, until=T + timedelta(hours=1), now=T)
    assert hour.points[0].visitors == 200 + 50 + 70 + 999  # every window lies inside the hour


def test_a_correction_replaces_the_figure(session) -> None:
    _window(session, T, 60, 200)
    traffic_store.correct_window(session, window_start=T, window_seconds=60, visitors=150, event_id="E-2",
                                 counted_at=T + timedelta(seconds=1), now=T)
    session.commit()
    assert traffic_store.kept_figure(session, T, 60) == KeptFigure(150, "E-2", T + timedelta(seconds=1))
    assert traffic_store.kept_figure(session, T, 30) is None

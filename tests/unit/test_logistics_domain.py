"""Logistics rules without I/O: dispatch order, steps, the SLA figures, the reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.logistics.domain import (
    SlaOrder,
    SlaTargets,
    StepRefused,
    ShipmentFacts,
    at_risk,
    can_withdraw,
    check_can_deliver,
    check_can_pack,
    check_can_ship,
    deadlines,
    dispatch_key,
    hourly_buckets,
    logistics_report,
    percent,
    sla_counts,
)

T0 = datetime(2026, 11, 11, tzinfo=UTC)
CLASSES = ("presale", "high_value", "standard")


def order(i: int, paid_min: int, shipped_min: int | None, klass: str = "standard") -> SlaOrder:
    paid = T0 + timedelta(minutes=paid_min)
    shipped = None if shipped_min is None else T0 + timedelta(minutes=shipped_min)
    return SlaOrder(f"O-{i}", f"S-{i}", klass, paid, shipped, "shipped" if shipped else "queued")


def test_deadlines_are_24_and_48_hours_after_payment() -> None:
    assert deadlines(T0) == (T0 + timedelta(hours=24), T0 + timedelta(hours=48))


@given(st.lists(st.tuples(st.sampled_from(CLASSES), st.integers(0, 10_000), st.text(min_size=1, max_size=5)),
                min_size=2, max_size=50))
def test_presale_always_precedes_high_value_which_precedes_standard_whatever_the_deadlines(items) -> None:
    keys = sorted(dispatch_key(klass, T0 + timedelta(minutes=m), rank) for klass, m, rank in items)
    classes = [k[0] for k in keys]
    assert classes == sorted(classes)
    for a, b in zip(keys, keys[1:]):
        if a[0] == b[0]:
            assert a[1] <= b[1]  # within a class, the nearer 24h deadline first


def test_a_shipment_must_be_packed_before_it_is_handed_over() -> None:
    with pytest.raises(StepRefused, match="pack it first"):
        check_can_ship("picking")
    check_can_ship("packed")


def test_a_picker_cannot_pack_a_shipment_in_another_pickers_live_wave() -> None:
    with pytest.raises(StepRefused, match="P-2"):
        check_can_pack("picking", "P-2", lease_live=True, picker_id="P-1")
    check_can_pack("picking", "P-2", lease_live=False, picker_id="P-1")  # the lease ran out
    check_can_pack("picking", "P-1", lease_live=True, picker_id="P-1")


def test_delivery_needs_a_hand_over_and_only_unshipped_shipments_are_withdrawn() -> None:
    with pytest.raises(StepRefused):
        check_can_deliver("packed")
    check_can_deliver("shipped")
    assert [s for s in ("queued", "picking", "packed", "shipped", "delivered") if can_withdraw(s)] == \
        ["queued", "picking", "packed"]


def test_850_of_1000_shipped_in_time_is_exactly_85_percent() -> None:
    orders = [order(i, i, i + 60 if i < 850 else i + 25 * 60) for i in range(1000)]
    counts = sla_counts(orders, T0 + timedelta(days=3), SlaTargets())
    assert counts["within_24h_pct"] == percent(850, 1000) and str(counts["within_24h_pct"]) == "85.0"
    assert counts["within_48h_pct"] == 100
    assert counts["meets_24h_target"] and counts["meets_48h_target"]


def test_shipping_exactly_at_the_deadline_is_in_time() -> None:
    counts = sla_counts([order(1, 0, 24 * 60)], T0 + timedelta(days=2), SlaTargets())
    assert counts["shipped_within_24h"] == 1


def test_the_target_is_reported_missed_as_soon_as_too_many_orders_are_past_their_deadline() -> None:
    # 10 orders: 3 unshipped past their deadline already means at most 70% can make it.
    orders = [order(i, 0, None) for i in range(3)] + [order(i, 20 * 60, None) for i in range(3, 10)]
    now = T0 + timedelta(hours=25)
    counts = sla_counts(orders, now, SlaTargets())
    assert counts["missed_24h"] == 3 and counts["meets_24h_target"] is False
    assert sla_counts(orders[3:], now, SlaTargets())["meets_24h_target"] is True


@given(st.lists(st.tuples(st.integers(0, 3000), st.one_of(st.none(), st.integers(0, 6000))), max_size=60),
       st.integers(0, 6000))
def test_sla_counts_add_up(raw, now_min) -> None:
    orders = [order(i, p, None if s is None else p + s) for i, (p, s) in enumerate(raw)]
    counts = sla_counts(orders, T0 + timedelta(minutes=now_min), SlaTargets())
    assert counts["shipped"] + counts["not_yet_shipped"] == counts["orders_paid"] == len(orders)
    assert counts["shipped_within_24h"] <= counts["shipped_within_48h"] <= counts["shipped"]
    assert counts["missed_24h"] >= counts["missed_48h"]


def test_at_risk_lists_unshipped_orders_whose_deadline_falls_within_the_horizon_most_urgent_first() -> None:
    orders = [order(1, 0, None), order(2, 60, None), order(3, 120, None), order(4, 30, 40), order(5, -600, None)]
    now = T0 + timedelta(hours=22)
    risky = at_risk(orders, now, timedelta(hours=3))
    # O-5 already missed; O-4 shipped; O-3's deadline (26:00) is beyond 25:00.
    assert [o.order_id for o in risky] == ["O-1", "O-2"]


def test_hourly_buckets_count_payments_and_dispatches_in_their_hour() -> None:
    orders = [order(1, 10, 70), order(2, 50, None), order(3, 65, 130)]
    buckets = hourly_buckets(orders, T0 + timedelta(hours=2, minutes=5), hours=72)
    assert [(b["paid"], b["dispatched"], b["paid_shipped_within_24h"]) for b in buckets] == \
        [(2, 0, 1), (1, 1, 1), (0, 1, 0)]


def test_report_gives_dispatch_speed_delivery_time_and_damage_rate() -> None:
    facts = [ShipmentFacts("SF", T0, T0 + timedelta(hours=h), T0 + timedelta(hours=h + 30),
                           frozenset({"damaged"}) if h == 2 else frozenset()) for h in (2, 4, 6, 8)]
    facts.append(ShipmentFacts(None, T0, None, None, frozenset()))
    report = logistics_report(facts)
    assert report["overall"]["shipped"] == 4
    assert report["overall"]["dispatch_speed"]["mean_h"] == 5.0
    assert report["overall"]["delivery_time"]["median_h"] == 30.0
    assert str(report["by_carrier"]["SF"]["damaged_rate_pct"]) == "25.0"

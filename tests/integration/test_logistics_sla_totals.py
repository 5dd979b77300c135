"""The SLA's running totals (services/logistics/sla_tally.py) against the pass over every
shipment that defines the figures (domain.sla_counts, at_risk, hourly_buckets), on the run's real
database: random shipments written through the store's own functions (queued, replacements,
withdrawn before or after queueing, presales awaiting a balance then paid, shipped early or late,
some written inside a savepoint that is rolled back), at a random moment; every figure equal.

Orders split over two warehouses (issue 34) are among them, each part shipped, withdrawn or
left on its own: overall an order counts once, shipped at its last part (withdrawn parts not
waited for); per warehouse each part counts by its own hand-over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from services.logistics import domain, parts, presale, sla_store, sla_tally, store
from services.logistics.models import (Shipment, SlaPaidHour, SlaShippedHour, SlaWarehousePaidHour,
                                       SlaWarehouseShippedHour)
from shared.db import transaction
from shared.events import OrderLine

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
TARGETS = domain.SlaTargets()
LINE = [OrderLine(sku="SKU-1", quantity=1, unit_price="10.00")]

TABLES = (Shipment, SlaPaidHour, SlaShippedHour, SlaWarehousePaidHour, SlaWarehouseShippedHour)
WAREHOUSES = ("main", "east", "north")

part_plans = st.fixed_dictionaries({
    "ship_after_min": st.none() | st.integers(0, 60 * 60),
    "withdraw": st.integers(0, 3).map(lambda n: n == 0),
})
shipment_plans = st.fixed_dictionaries({
    "priority_class": st.sampled_from(domain.PRIORITY_CLASSES),
    "paid_min": st.integers(-72 * 60, 0),
    "kind": st.sampled_from(["order", "order", "order", "replacement", "withdrawn_first", "awaiting",
                             "split", "split", "split_awaiting"]),
    "warehouse": st.sampled_from(WAREHOUSES),
    "balance_after_min": st.none() | st.integers(0, 600),
    "parts": st.lists(part_plans, min_size=2, max_size=2),
    "backwards": st.booleans(),
    "ship_after_min": st.none() | st.integers(0, 60 * 60),
    "withdraw": st.booleans(),
    "rolled_back": st.integers(0, 9).map(lambda n: n == 0),
})


@pytest.fixture(scope="module")
def engine(tmp_path_factory, databases):
    from shared.db import create_tables, make_engine

    url = databases("t_sla_totals") if databases else f"sqlite:///{tmp_path_factory.mktemp('sla') / 'db.sqlite'}"
    engine = make_engine(url)
    create_tables(engine, [table.__table__ for table in TABLES])
    yield engine
    engine.dispose()


def write(session, n: int, plan: dict) -> None:
    paid_at = BASE + timedelta(minutes=plan["paid_min"])
    kind = plan["kind"]
    split = kind.startswith("split")
    warehouses = ("east", "north") if split else (plan["warehouse"],)
    steps = plan["parts"] if split else [plan]
    awaiting = kind in ("awaiting", "split_awaiting")
    ids = [parts.shipment_id_for_part(f"O{n}", w, len(warehouses)) for w in warehouses]
    for shipment_id, warehouse in zip(ids, warehouses, strict=True):
        row = domain.new_shipment(
            shipment_id=shipment_id, order_id=f"O{n}", order_type="presale" if awaiting else "standard",
            priority_class=plan["priority_class"], priority_rank=f"r{n:05d}", lines=LINE, region="Shanghai",
            paid_at=paid_at, now=paid_at, replacement_for_case="C1" if kind == "replacement" else None,
            withdrawn_at=paid_at if kind == "withdrawn_first" else None, withdrawal_reason="cancelled",
            warehouse=warehouse, order_parts=len(warehouses))
        if awaiting:
            row = presale.open_awaiting(row, None)
        store.add_shipment(session, row, None)
    shipments = [store.shipment(session, shipment_id) for shipment_id in ids]
    if awaiting and plan["balance_after_min"] is not None:
        paid_at = paid_at + timedelta(minutes=plan["balance_after_min"])
        for shipment in shipments:
            store.save_shipment(session, shipment, presale.receive_balance(
                shipment.status, shipment.priority_rank, presale.Balance(paid_at, "0-balance")))
    order = list(zip(shipments, steps, strict=True))
    if plan["backwards"]:
        order.reverse()
    for shipment, step in order:
        if step["ship_after_min"] is not None and shipment.status == domain.QUEUED:
            shipped_at = paid_at + timedelta(minutes=step["ship_after_min"])
            store.save_shipment(session, shipment, domain.pack(shipment, picker_id="P1", now=shipped_at))
            store.save_shipment(session, shipment, domain.hand_over(
                shipment, carrier="SF", tracking_number=f"T{shipment.shipment_id}", now=shipped_at))
    for shipment, step in order:
        if step["withdraw"]:
            changes = domain.withdraw(shipment, reason="cancelled", cancelled_at=paid_at)
            if changes is not None:
                store.save_shipment(session, shipment, changes)


def moment_near_a_deadline(plans: list[dict], anchor: int, deadline_h: int | None, nudge_min: int,
                           now_min: int) -> datetime:
    """Mostly a moment just around one shipment's 24 h or 48 h deadline, where an off-by-one in
    the late counts would show; sometimes anywhere."""
    if not plans or deadline_h is None:
        return BASE + timedelta(minutes=now_min)
    paid = BASE + timedelta(minutes=plans[anchor % len(plans)]["paid_min"])
    return paid + timedelta(hours=deadline_h, minutes=nudge_min)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(shipment_plans, min_size=0, max_size=40), anchor=st.integers(0, 39),
       deadline_h=st.sampled_from([24, 48, None]), nudge_min=st.sampled_from([0, -1, 1]) | st.integers(-90, 90),
       now_min=st.integers(-48 * 60, 72 * 60), horizon_h=st.integers(1, 30))
def test_the_running_totals_give_every_figure_a_pass_over_the_shipments_gives(engine, plans, anchor, deadline_h,
                                                                              nudge_min, now_min, horizon_h):
    with transaction(engine) as session:
        for table in TABLES:
            session.exec(delete(table))
    with transaction(engine) as session:
        for n, plan in enumerate(plans):
            if plan["rolled_back"]:
                savepoint = session.begin_nested()
                write(session, n, plan)
                savepoint.rollback()
            else:
                write(session, n, plan)
    now = moment_near_a_deadline(plans, anchor, deadline_h, nudge_min, now_min)
    horizon = timedelta(hours=horizon_h)
    with transaction(engine) as session:
        orders = sla_store.sla_orders(session)
        hours = sla_store.paid_hours(session)
        cut_24h, cut_48h = sla_tally.late_cuts(now)
        late = (sla_store.late_cut(session, cut_24h), sla_store.late_cut(session, cut_48h))
        assert sla_tally.summarise(hours, *late, TARGETS) == domain.sla_counts(orders, now, TARGETS)
        for klass in domain.PRIORITY_CLASSES:
            assert sla_tally.summarise(hours, *late, TARGETS, priority_class=klass) == domain.sla_counts(
                [o for o in orders if o.priority_class == klass], now, TARGETS)
        count, risky = sla_store.at_risk(session, now, horizon, limit=5)
        expected = domain.at_risk(orders, now, horizon)
        assert (count, risky) == (len(expected), expected[:5])
        chart_hours = 96
        dispatched = sla_store.dispatched_per_hour(session, domain.hour_floor(now) - timedelta(hours=chart_hours - 1))
        assert sla_tally.hourly_from_totals(hours, dispatched, now, chart_hours) == domain.hourly_buckets(
            orders, now, chart_hours)
        # Per warehouse: each part by its own hand-over (GET /sla?warehouse= and by_warehouse).
        warehouse_hours = sla_store.warehouse_paid_hours(session)
        per_24h, per_48h = sla_store.late_cuts_per_warehouse(session, cut_24h), sla_store.late_cuts_per_warehouse(
            session, cut_48h)
        for warehouse in WAREHOUSES:
            found = sla_store.sla_parts(session, warehouse)
            late = (sla_store.late_cut(session, cut_24h, warehouse), sla_store.late_cut(session, cut_48h, warehouse))
            assert late[0].boundary_late == per_24h.get(warehouse, late[0]).boundary_late
            assert late[1].boundary_late == per_48h.get(warehouse, late[1]).boundary_late
            assert sla_tally.summarise(warehouse_hours.get(warehouse, []), *late, TARGETS) == domain.sla_counts(
                found, now, TARGETS)
            count, risky = sla_store.at_risk(session, now, horizon, limit=5, warehouse=warehouse)
            expected = domain.at_risk(found, now, horizon)
            assert (count, risky) == (len(expected), expected[:5])
            dispatched = sla_store.dispatched_per_hour(session, domain.hour_floor(now) - timedelta(
                hours=chart_hours - 1), warehouse)
            assert sla_tally.hourly_from_totals(warehouse_hours.get(warehouse, []), dispatched, now,
                                                chart_hours) == domain.hourly_buckets(found, now, chart_hours)

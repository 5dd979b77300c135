"""The books across warehouses under any sequence of orders (any region and split policy),
cancellations, parts dispatched and deliveries, through the real use cases and store on SQLite
(issue 34, R7): per warehouse and sku reserved + available = on hand, nothing negative, reserved
= what the reserved parts hold; every reserved order's parts add up to its needs; a waiting order
holds nothing."""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.inventory import store, usecases, usecases_goods
from services.inventory.catalog import CatalogEntry
from services.inventory.domain import InventoryPolicy, Unbookable
from services.inventory.warehouses import Warehouse
from shared.clock import SettableClock
from shared.db import make_engine, transaction
from shared.events import OrderAccepted, OrderCancelled, ShipmentDispatched, SupplierDelivery
from shared.messaging import Outbox
from shared.migrations import upgrade
from shared.unit_of_work import Actor, UnitOfWork

NOW = datetime(2026, 11, 11, tzinfo=UTC)
POLICY = InventoryPolicy()
WAREHOUSES = [Warehouse("north", regions=("beijing",), reaches=("shanghai",), position=0),
              Warehouse("east", regions=("shanghai",), reaches=("beijing",), position=1),
              Warehouse("south", regions=("shenzhen",), position=2)]
SKUS = ("A", "B", "C")
SEQUENCE = itertools.count()


class Books:
    def __init__(self, tmp_path) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'inventory.db'}")
        upgrade(self.engine, "inventory")
        self.clock = SettableClock(NOW)
        self.outbox = Outbox(source="inventory", topic_prefix="", clock=self.clock)
        with transaction(self.engine) as session:
            for w in WAREHOUSES:
                store.save_warehouse(session, w, now=NOW)
        store.forget_ranking()

    def run(self, use_case, message) -> str:
        """One event in its own transaction; one the books can never take (Unbookable: a dead
        letter from Kafka) rolls back whole, as the consumer does."""
        try:
            with transaction(self.engine) as session:
                uow = UnitOfWork(session, self.outbox, self.clock, actor=Actor("test", "books"))
                return use_case(uow, message, POLICY)
        except Unbookable as refused:
            return f"dead letter: {refused}"

    def catalog(self, prefix: str, stock: dict[str, dict[str, int]]) -> None:
        entries = [CatalogEntry(sku=f"{prefix}{sku}", tier="profit", planned_stock=max(units, 1), on_hand=units,
                                warehouse=wh) for sku, per in stock.items() for wh, units in per.items()]
        with transaction(self.engine) as session:
            usecases_goods.load_catalog(UnitOfWork(session, self.outbox, self.clock, actor=Actor("catalog", "t")),
                                        entries, POLICY)


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> Books:
    return Books(tmp_path_factory.mktemp("books"))


def order(order_id: str, lines: dict[str, int], region: str, policy: str, minute: int) -> OrderAccepted:
    paid = NOW + timedelta(minutes=minute)
    return OrderAccepted.model_validate({
        "order_id": order_id, "customer_id": "C-1", "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{minute:06d}-{order_id}", "discount": "0.00", "paid_amount": "10.00",
        "lines": [{"sku": s, "quantity": q, "unit_price": "1.00", "gift": False} for s, q in lines.items()],
        "paid_at": paid.isoformat(), "region": region, "currency": "CNY", "accepted_at": paid.isoformat(),
        "split_policy": policy})


steps = st.lists(st.one_of(
    st.tuples(st.just("order"), st.dictionaries(st.sampled_from(SKUS), st.integers(1, 5), min_size=1, max_size=3),
              st.sampled_from(("beijing", "shanghai", "shenzhen", "lhasa")),
              st.sampled_from(("fewest_shipments", "fastest", "own_region")), st.integers(0, 999)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("dispatch"), st.integers(0, 30), st.sampled_from(("north", "east", "south", None))),
    st.tuples(st.just("deliver"), st.sampled_from(SKUS), st.sampled_from(("north", "east", "south")),
              st.integers(1, 6)),
), min_size=1, max_size=25)
opening = st.fixed_dictionaries({sku: st.fixed_dictionaries({w.id: st.integers(0, 6) for w in WAREHOUSES})
                                 for sku in SKUS})


def play(books: Books, prefix: str, sequence, run, parts_of) -> tuple[list[str], dict[str, Counter]]:
    """The steps, each through `run(use_case, message)`; `parts_of(order_id)`: its warehouses."""
    placed: list[str] = []
    needs: dict[str, Counter] = {}
    for step in sequence:
        if step[0] == "order":
            _, lines, region, policy, minute = step
            order_id = f"{prefix}O{len(placed)}"
            lines = {f"{prefix}{s}": q for s, q in lines.items()}
            needs[order_id] = Counter(lines)
            placed.append(order_id)
            run(usecases.reserve_order, order(order_id, lines, region, policy, minute))
        elif placed and step[0] == "cancel":
            run(usecases.release_order, OrderCancelled(order_id=placed[step[1] % len(placed)]))
        elif placed and step[0] == "dispatch":
            order_id = placed[step[1] % len(placed)]
            if step[2] is None or step[2] in parts_of(order_id):  # logistics ships only parts it was given
                run(usecases.ship_order, ShipmentDispatched(
                    order_id=order_id, shipment_id=f"S-{order_id}-{step[2]}", carrier="SF", tracking_number="T-1",
                    dispatched_at=NOW, warehouse=step[2]))
        elif step[0] == "deliver":
            _, sku, wh, units = step
            run(usecases_goods.receive_delivery, SupplierDelivery(
                delivery_id=f"D-{prefix}{next(SEQUENCE)}", sku=f"{prefix}{sku}", quantity=units, delivered_at=NOW,
                warehouse=wh))
    return placed, needs


def own_transaction_parts(books: Books):
    def parts_of(order_id: str) -> set[str]:
        with transaction(books.engine) as session:
            return {r.warehouse for r in store.allocation_of(session, order_id)}
    return parts_of


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opening, steps)
def test_the_books_hold_per_warehouse_whatever_happens(books: Books, stock, sequence) -> None:
    prefix = f"X{next(SEQUENCE)}-"
    books.catalog(prefix, stock)
    placed, needs = play(books, prefix, sequence, books.run, own_transaction_parts(books))
    check_books(books, prefix, placed, needs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opening, steps)
def test_the_books_hold_when_the_events_share_a_batch_transaction(books: Books, stock, sequence) -> None:
    """As a consumer batch runs them: every event in one transaction (allocation rows written at
    commit, or when an event of the batch reads them); if one is refused, the batch again with a
    savepoint per event, the refused ones rolled back alone."""
    prefix = f"Y{next(SEQUENCE)}-"
    books.catalog(prefix, stock)

    def in_batch(savepoints: bool) -> tuple[list[str], dict[str, Counter]]:
        with transaction(books.engine) as session:
            def run(use_case, message) -> None:
                try:
                    with session.begin_nested() if savepoints else nullcontext():
                        use_case(UnitOfWork(session, books.outbox, books.clock, actor=Actor("test", "batch")),
                                 message, POLICY)
                except Unbookable:
                    if not savepoints:
                        raise

            return play(books, prefix, sequence, run,
                        lambda order_id: {r.warehouse for r in store.allocation_of(session, order_id)})

    try:
        placed, needs = in_batch(savepoints=False)
    except Unbookable:
        placed, needs = in_batch(savepoints=True)
    check_books(books, prefix, placed, needs)


def check_books(books: Books, prefix: str, placed: list[str], needs: dict[str, Counter]) -> None:
    with transaction(books.engine) as session:
        rows = session.execute(text("SELECT * FROM inventory_stock WHERE sku LIKE :p"), {"p": f"{prefix}%"}).all()
        held = Counter()
        for order_id in placed:
            reservation = store.load_reservation(session, order_id)
            parts = store.allocation_of(session, order_id)
            if reservation.status == "backordered":
                assert not parts, (order_id, parts)
                continue
            assert reservation.status in ("reserved", "released", "shipped", "cancelled"), reservation.status
            if reservation.status != "cancelled":
                got = Counter()
                for p in parts:
                    got[p.sku] += p.quantity
                assert got == needs[order_id], (order_id, parts)  # the whole order, never a part of it
                assert len({p.warehouse for p in parts}) >= 1
            for p in parts:
                if p.state == "reserved":
                    held[(p.warehouse, p.sku)] += p.quantity
            if reservation.status == "shipped":
                assert {p.state for p in parts} == {"shipped"}
        for row in rows:
            assert row.reserved + row.available == row.on_hand and min(row.reserved, row.available) >= 0, row
            assert row.reserved == held[(row.warehouse, row.sku)], (row, held)
        totals = session.execute(text("SELECT sku, on_hand, reserved, available FROM inventory_sku WHERE sku LIKE :p"),
                                 {"p": f"{prefix}%"}).all()
        for total in totals:
            mine = [r for r in rows if r.sku == total.sku]
            assert (total.on_hand, total.reserved, total.available) == (
                sum(r.on_hand for r in mine), sum(r.reserved for r in mine), sum(r.available for r in mine))
        for order_id in placed:  # own_region orders only ever from their region
            reservation = store.load_reservation(session, order_id)
            if reservation.split_policy == "own_region":
                served = {w.id for w in WAREHOUSES if w.serves(reservation.region)}
                assert {p.warehouse for p in store.allocation_of(session, order_id)} <= served

"""A consumer batch of lifecycle events ends where the same events one at a time end.

The orders service reads the state of every order in a batch of stock events at once
(`store.load_lifecycle_states`) and then applies the events in sequence from those
states. Several events of one order in a batch, an order not accepted yet and a replay are the
cases where starting from a state read before the batch would go wrong. Against the run's
database (SQLite; PostgreSQL under `make test-postgres`), no broker needed: records are fed to
the service's own consumer code."""

from __future__ import annotations

import dataclasses

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from services.orders import store
from services.orders.domain import OrderPolicy
from services.orders.handlers import subscriptions
from services.orders.models import TABLES, OrderRecord, OrderStep
from shared.events import SkuQuantity, StockBackordered, StockReleased, StockReserved
from shared.messaging import MESSAGING_TABLES, EventConsumer, EventHandler, Record
from shared.topics import INVENTORY_RESERVATIONS, PLATFORM_ORDERS
from tests.support.batches import T0, as_one_batch, consumer_on, one_by_one, record_of
from tools.bench import order_event

pytestmark = pytest.mark.integration

SUBSCRIPTIONS = subscriptions(OrderPolicy(high_value_threshold=Decimal("1000"), accepted_currencies=frozenset({"CNY"})))
STOCK_HANDLERS = SUBSCRIPTIONS[INVENTORY_RESERVATIONS]


def stock_event(type_: str, order_id: str, event_id: str, minute: int) -> Record:
    at = T0 + timedelta(minutes=minute)
    payload = {
        "stock.reserved": lambda: StockReserved(
            order_id=order_id, priority_class="standard", priority_rank="r", lines=[], region="Shanghai",
            paid_at=T0, reserved_at=at),
        "stock.backordered": lambda: StockBackordered(
            order_id=order_id, missing=[SkuQuantity(sku="SKU-1", quantity=1)], backordered_at=at),
        "stock.released": lambda: StockReleased(
            order_id=order_id, lines=[SkuQuantity(sku="SKU-1", quantity=1)], released_at=at),
    }[type_]()
    return record_of("inventory.reservations", type_, payload, key=order_id, event_id=event_id, offset=minute)


# backordered, then reserved, then a late backorder that must be refused (starting from the
# state read before the batch, it would move the order back). A-2: reserved twice under two ids.
# reserved, then the same event again (a replay). A-9: never accepted: parked.
EVENTS = [
    ("stock.backordered", "A-1", "E-1", 1), ("stock.reserved", "A-2", "E-2", 2),
    ("stock.reserved", "A-1", "E-3", 3), ("stock.reserved", "A-3", "E-4", 4),
    ("stock.backordered", "A-1", "E-5", 5), ("stock.reserved", "A-9", "E-6", 6),
    ("stock.reserved", "A-2", "E-7", 7), ("stock.reserved", "A-3", "E-4", 8),
    ("stock.released", "A-2", "E-8", 9),
]


def stock_events() -> list[Record]:
    records = [stock_event(*e) for e in EVENTS]
    # The replay of E-4 is that record again, byte for byte (a redelivery); the same id with
    # other content would be an id used again, dead-lettered (issue 27, finding 5).
    records[7] = dataclasses.replace(records[3], offset=records[7].offset)
    return records


def accepted_orders(engine) -> EventConsumer:
    consumer = consumer_on(engine, "orders")
    placed = [Record(topic="platform.orders", partition=0, offset=n, key=oid.encode(),
                     value=order_event(oid, "SKU-1", T0.isoformat()))
              for n, oid in enumerate(("A-1", "A-2", "A-3"))]
    handlers = {"order.placed": SUBSCRIPTIONS[PLATFORM_ORDERS]["order.placed"]}
    assert as_one_batch(consumer, placed, handlers) == ["handled"] * 3
    return consumer


def end_state(engine) -> tuple[dict[str, str], list[tuple]]:
    with Session(engine) as session:
        statuses = {r.order_id: r.status for r in session.exec(select(OrderRecord))}
        timeline = [(s.order_id, s.event_id, s.status, s.outcome)
                    for s in session.exec(select(OrderStep).where(OrderStep.event_type != "order.placed")
                                          .order_by(col(OrderStep.order_id), col(OrderStep.id)))]
    return statuses, timeline


def test_a_batch_of_stock_events_ends_as_the_same_events_one_by_one(engine_with, monkeypatch) -> None:
    records = stock_events()

    singly = engine_with(TABLES + MESSAGING_TABLES)
    consumer = accepted_orders(singly)
    singles = one_by_one(consumer, records, STOCK_HANDLERS)

    batched = engine_with(TABLES + MESSAGING_TABLES)
    consumer = accepted_orders(batched)
    per_event_reads = []
    read_one = store.lifecycle_state
    monkeypatch.setattr(store, "lifecycle_state",
                        lambda session, order_id: per_event_reads.append(order_id) or read_one(session, order_id))
    outcomes = as_one_batch(consumer, records, STOCK_HANDLERS)

    assert per_event_reads == ["A-9"]  # the accepted orders' states were read for the whole batch

    assert outcomes == singles == ["handled"] * 7 + ["duplicate", "handled"]
    assert end_state(batched) == end_state(singly)
    statuses, timeline = end_state(batched)
    assert statuses == {"A-1": "reserved", "A-2": "reserved", "A-3": "reserved"}
    assert ("A-1", "E-5", "backordered", "refused") in timeline  # not moved back
    assert ("A-2", "E-7", "reserved", "noted") in timeline
    assert ("A-2", "E-8", "stock_released", "refused") in timeline  # it was never cancelled


def test_a_batch_that_is_not_clean_runs_again_without_the_batch_read(engine_with) -> None:
    """An event whose handler fails sends the batch to its savepoint pass, which reads each
    order's state per event; the other events still end as they would have."""
    engine = engine_with(TABLES + MESSAGING_TABLES)
    consumer = accepted_orders(engine)
    handlers = dict(STOCK_HANDLERS)
    reserved = handlers["stock.reserved"]

    def fails_for_a_2(ctx, payload):
        if payload.order_id == "A-2":
            raise RuntimeError("disk full")
        reserved(ctx, payload)

    handlers["stock.reserved"] = EventHandler(fails_for_a_2, prefetch=reserved.prefetch)
    records = [stock_event(*e) for e in EVENTS[:5]]
    outcomes = as_one_batch(consumer, records, handlers)
    assert outcomes[1] == "dead_lettered" and outcomes.count("handled") == 4
    statuses, timeline = end_state(engine)
    assert statuses == {"A-1": "reserved", "A-2": "accepted", "A-3": "reserved"}
    assert ("A-1", "E-5", "backordered", "refused") in timeline

"""A consumer batch of reserved orders queues what the same events one at a time queue.

Logistics reads, for a whole batch of stock.reserved, which shipments exist and which orders
were withdrawn (`store.SHIPMENT_OUTLOOKS`), then opens the shipments one by one
from those answers. An order reserved twice in one batch, a withdrawal that came first and a
replay are where answers read before the batch could go wrong. Against the run's database
(SQLite; PostgreSQL under `make test-postgres`), no broker needed."""

from __future__ import annotations

import dataclasses

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from services.logistics import store
from services.logistics.handlers import SUBSCRIPTIONS
from services.logistics.models import TABLES, Shipment
from shared.events import OrderCancelled, OrderLine, StockReserved
from shared.messaging import MESSAGING_TABLES, Record
from shared.topics import INVENTORY_RESERVATIONS, ORDERS_EVENTS
from tests.support.batches import T0, as_one_batch, consumer_on, one_by_one, record_of

pytestmark = pytest.mark.integration

HANDLERS = {"stock.reserved": SUBSCRIPTIONS[INVENTORY_RESERVATIONS]["stock.reserved"],
            "order.cancelled": SUBSCRIPTIONS[ORDERS_EVENTS]["order.cancelled"]}


def reserved(order_id: str, event_id: str, minute: int) -> Record:
    payload = StockReserved(order_id=order_id, priority_class="standard", priority_rank=f"2-{order_id}",
                            lines=[OrderLine(sku="SKU-1", quantity=1, unit_price="59.90")], region="Shanghai",
                            paid_at=T0, reserved_at=T0 + timedelta(minutes=minute))
    return record_of("inventory.reservations", "stock.reserved", payload, key=order_id, event_id=event_id,
                     offset=minute)


def cancelled(order_id: str, event_id: str) -> Record:
    payload = OrderCancelled(order_id=order_id, reason="changed my mind", cancelled_at=T0)
    return record_of("orders.events", "order.cancelled", payload, key=order_id, event_id=event_id, offset=0)


# L-1 reserved twice under two ids; L-2 withdrawn before its reservation; L-3 reserved, then
# the same event again; L-4 reserved in an earlier batch, and again now.
EARLIER = [cancelled("L-2", "C-1"), reserved("L-4", "R-0", 0)]
BATCH = [reserved("L-1", "R-1", 1), reserved("L-2", "R-2", 2), reserved("L-3", "R-3", 3),
         reserved("L-1", "R-4", 4), reserved("L-4", "R-5", 5)]
# The same event again is the same bytes at a later offset (a redelivery); the same id with other
# content would be an id used again, dead-lettered (issue 27, finding 5).
BATCH.append(dataclasses.replace(BATCH[2], offset=6))


def queue_of(engine) -> list[tuple]:
    with Session(engine) as session:
        return [(s.shipment_id, s.status, s.withdraw_reason)
                for s in session.exec(select(Shipment).order_by(Shipment.shipment_id))]


def test_a_batch_of_reserved_orders_ends_as_the_same_events_one_by_one(engine_with, monkeypatch) -> None:
    singly = engine_with(TABLES + MESSAGING_TABLES)
    consumer = consumer_on(singly, "logistics")
    one_by_one(consumer, EARLIER, HANDLERS)
    singles = one_by_one(consumer, BATCH, HANDLERS)

    batched = engine_with(TABLES + MESSAGING_TABLES)
    consumer = consumer_on(batched, "logistics")
    one_by_one(consumer, EARLIER, HANDLERS)
    per_event_reads = []
    read_one = store.SHIPMENT_OUTLOOK.execute
    monkeypatch.setattr(store.SHIPMENT_OUTLOOK, "execute",
                        lambda session, params: per_event_reads.append(params["sid"]) or read_one(session, params))
    outcomes = as_one_batch(consumer, BATCH, HANDLERS)

    assert per_event_reads == []  # every answer came from the batch's read
    assert outcomes == singles == ["handled"] * 5 + ["duplicate"]
    assert queue_of(batched) == queue_of(singly) == [
        ("SHP-L-1", "queued", None),
        ("SHP-L-2", "withdrawn", "order cancelled before the reservation arrived: changed my mind"),
        ("SHP-L-3", "queued", None), ("SHP-L-4", "queued", None)]

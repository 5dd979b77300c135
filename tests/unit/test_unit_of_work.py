"""The kernel's pieces without a broker: what a unit of work publishes where, the actor's words,
the batch scope, and how a consumed record's CloudEvents mode is read (hypothesis sends the
headers a careless or hostile producer could)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clock import make_clock
from shared.db import make_engine, transaction
from shared.envelope import STRUCTURED_CONTENT_TYPE, decode_envelope
from shared.event_registry import EVENT_MODELS, PUBLICATIONS, publication_of
from shared.events import OrderCancellationRequested, OrderCancelled, StockReleased
from shared.messaging import MESSAGING_TABLES, Outbox, OutboxMessage
from shared.messaging.records import record_from_kafka, structured_from_binary
from shared.db import create_tables
from shared.topics import ALL_TOPICS
from shared.unit_of_work import Actor, BatchScope, Prefetch, UnitOfWork


def test_every_registered_type_is_published_on_the_one_topic_that_lists_it() -> None:
    assert {(p.type, p.version) for p in PUBLICATIONS.values()} == set(EVENT_MODELS)
    for model, publication in PUBLICATIONS.items():
        listing = [spec.name for spec in ALL_TOPICS
                   if publication.type in spec.event_types and publication.type not in spec.legacy_types]
        assert listing == [publication.topic.name], model
    assert publication_of(OrderCancelled(order_id="O-1")).topic.name == "orders.events"
    assert publication_of(OrderCancellationRequested(order_id="O-1")).topic.name == "platform.orders"


def test_a_payload_that_is_not_registered_is_refused() -> None:
    with pytest.raises(TypeError, match="not a registered event payload"):
        publication_of(object())  # type: ignore[arg-type]


def test_publish_writes_the_payloads_type_and_topic_with_the_structured_mode_header(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    create_tables(engine, MESSAGING_TABLES)
    clock = make_clock("settable")
    outbox = Outbox(source="inventory", topic_prefix="t1.", clock=clock)
    with transaction(engine) as session:
        uow = UnitOfWork(session, outbox, clock, actor=Actor("http", "amy", roles=("admin",)))
        event_id = uow.publish(StockReleased(order_id="O-7", lines=[], released_at=clock.now()), key="O-7")
    with transaction(engine) as session:
        row = session.get(OutboxMessage, 1)
    assert row.event_id == event_id and row.topic == "t1.inventory.reservations" and row.key == "O-7"
    assert json.loads(row.headers_json) == {"ce_type": "stock.released", "content-type": STRUCTURED_CONTENT_TYPE}
    assert decode_envelope(row.value).type == "stock.released"


def test_the_actor_is_written_as_the_audit_trails_expect() -> None:
    assert str(Actor("http", "amy", roles=("admin", "support"))) == "http:amy(admin,support)"
    assert str(Actor("kafka", "supplier.deliveries", source="acme")) == "kafka:supplier.deliveries(source=acme)"
    assert str(Actor("kafka", "carrier.events")) == "kafka:carrier.events"
    assert str(Actor("catalog", "skus.csv")) == "catalog:skus.csv"


def test_the_batch_scope_holds_a_read_until_it_is_forgotten() -> None:
    loads: list[list[str]] = []

    def load(_session, payloads):
        loads.append(list(payloads))
        return {p: len(p) for p in payloads}

    read: Prefetch[str, int] = Prefetch("lengths", load)
    batch = BatchScope()
    assert batch.read(read) is None  # nothing read: the use case reads for itself
    batch.load(read, None, ["ab", "abc"])  # type: ignore[arg-type]
    assert batch.read(read) == {"ab": 2, "abc": 3} and loads == [["ab", "abc"]]
    batch.forget(read)
    assert batch.read(read) is None


def test_now_is_read_once_per_unit_of_work() -> None:
    clock = make_clock("settable")
    uow = UnitOfWork(None, None, clock)  # type: ignore[arg-type]
    first = uow.now
    clock.set(datetime(2030, 1, 1, tzinfo=UTC))
    assert uow.now == first


BINARY = [("ce_specversion", b"1.0"), ("ce_id", b"e-1"), ("ce_source", b"checkout"), ("ce_type", b"order.cancelled"),
          ("ce_dataversion", b"1"), ("content-type", b"application/json; charset=utf-8")]


def test_a_binary_record_becomes_the_structured_event_it_describes() -> None:
    record = record_from_kafka("platform.orders", 0, 5, b"O-1", b'{"order_id":"O-1"}', BINARY)
    event = json.loads(record.value)
    assert event == {"specversion": "1.0", "id": "e-1", "source": "checkout", "type": "order.cancelled",
                     "dataversion": 1, "datacontenttype": "application/json", "data": {"order_id": "O-1"}}
    assert record.type_hint == "order.cancelled" and record.offset == 5


def test_a_structured_record_is_left_as_it_came() -> None:
    value = b'{"specversion":"1.0"}'
    headers = [("ce_specversion", b"1.0"), ("content-type", STRUCTURED_CONTENT_TYPE.encode())]
    assert record_from_kafka("t", 0, 0, None, value, headers).value == value
    assert record_from_kafka("t", 0, 0, None, None, None).value == b""


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(st.sampled_from(["ce_specversion", "ce_id", "ce_type", "ce_dataversion",
                                                   "content-type", "ce_", "other"]),
                                  st.binary(max_size=40)), max_size=8),
       value=st.binary(max_size=200))
def test_no_header_or_value_makes_reading_a_record_raise(headers, value) -> None:
    """Whatever the headers and bytes, the record is read (at worst kept as sent, for the
    consumer to dead-letter with the reason)."""
    record = record_from_kafka("t", 0, 0, None, value, headers)
    assert isinstance(record.value, bytes)
    built = structured_from_binary(headers, value)
    assert built is None or isinstance(json.loads(built), dict)


def test_an_events_actor_names_the_topic_without_the_deployments_prefix() -> None:
    from shared.envelope import CloudEvent

    clock = make_clock("settable")
    outbox = Outbox(source="inventory", topic_prefix="run7.", clock=clock)
    event = CloudEvent(id="e-1", source="acme", type="supplier.delivery", time=clock.now(), data={})
    uow = UnitOfWork(None, outbox, clock, event=event, topic="run7.supplier.deliveries")  # type: ignore[arg-type]
    assert str(uow.actor) == "kafka:supplier.deliveries(source=acme)"
    assert uow.actor.event_id == "e-1"

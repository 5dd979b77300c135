"""The consumer's guarantees against a real SQLite database (no broker needed: records are fed in)."""

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from shared.clock import SettableClock
from shared.db import create_tables, make_engine
from shared.events import SupplierDelivery, encode
from shared.event_registry import new_event
from shared.messaging import MESSAGING_TABLES, EventConsumer, InvalidEvent, Outbox, OutboxMessage, Record
from shared.metrics import ServiceMetrics


@pytest.fixture
def consumer(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_tables(engine, MESSAGING_TABLES)
    clock = SettableClock(datetime(2026, 11, 11, tzinfo=UTC))
    outbox = Outbox(source="tests", topic_prefix="", clock=clock)
    c = EventConsumer(engine, outbox, clock, ServiceMetrics("tests"), consumer_name="tests", retries=2)
    c.engine = engine
    return c


def record(value: bytes, offset: int = 7) -> Record:
    return Record(topic="supplier.deliveries", partition=1, offset=offset, key=b"S", value=value)


DELIVERED_AT = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)


def delivery(event_id: str = "E-1", quantity: int = 5, time: datetime = DELIVERED_AT) -> bytes:
    return encode(new_event("supplier.delivery",
                            SupplierDelivery(delivery_id="D-1", sku="S", quantity=quantity, delivered_at=DELIVERED_AT),
                            source="tests", subject="S", time=time, event_id=event_id))


def outbox_rows(engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def run(coro):
    return asyncio.run(coro)


def test_a_redelivered_event_is_handled_once(consumer) -> None:
    calls = []
    handlers = {"supplier.delivery": lambda ctx, payload: calls.append(payload.quantity)}
    assert run(consumer.process(record(delivery()), handlers)) == "handled"
    assert run(consumer.process(record(delivery(), offset=8), handlers)) == "duplicate"
    assert calls == [5]


def test_a_redelivery_spelled_differently_is_still_a_duplicate(consumer) -> None:
    """On a topic written outside the platform the digest is of what the event says: envelope
    time, key order and spacing do not count. On the platform's own topics (re-sent byte for
    byte by the relay) it is of the bytes, at a sixth of the cost."""
    consumer.compared_by_content.add("supplier.deliveries")
    calls = []
    handlers = {"supplier.delivery": lambda ctx, payload: calls.append(payload.quantity)}
    assert run(consumer.process(record(delivery()), handlers)) == "handled"
    respelled = json.dumps(dict(reversed(json.loads(delivery(time=datetime.now(UTC))).items())), indent=2).encode()
    assert run(consumer.process(record(respelled, offset=8), handlers)) == "duplicate"
    assert run(consumer.process_batch([record(respelled, offset=9)], handlers)) == ["duplicate"]
    assert calls == [5]
    consumer.compared_by_content.clear()
    internal = run(consumer.process_batch([record(delivery("E-9"), offset=10), record(delivery("E-9"), offset=11),
                                           record(delivery("E-9", time=datetime.now(UTC)), offset=12)], handlers))
    assert internal == ["handled", "duplicate", "dead_lettered"] and calls == [5, 5]


@pytest.mark.parametrize("batch", [False, True])
def test_an_event_id_reused_for_other_content_is_dead_lettered_not_dropped(consumer, batch) -> None:
    consumer.compared_by_content.add("supplier.deliveries")
    calls = []
    handlers = {"supplier.delivery": lambda ctx, payload: calls.append(payload.quantity)}
    assert run(consumer.process(record(delivery()), handlers)) == "handled"
    other = record(delivery(quantity=6), offset=8)
    outcome = run(consumer.process_batch([other], handlers)) if batch else [run(consumer.process(other, handlers))]
    assert outcome == ["dead_lettered"] and calls == [5]
    [dead] = [r for r in outbox_rows(consumer.engine) if r.topic == "supplier.deliveries.dlq"]
    assert dead.value == other.value
    assert "already used" in json.loads(dead.headers_json)["dlq.reason"]


def test_the_same_id_twice_in_one_batch_with_other_content_applies_the_first_only(consumer) -> None:
    calls = []
    handlers = {"supplier.delivery": lambda ctx, payload: calls.append(payload.quantity)}
    outcomes = run(consumer.process_batch([record(delivery(), offset=1), record(delivery(quantity=9), offset=2),
                                           record(delivery(), offset=3)], handlers))
    assert outcomes == ["handled", "dead_lettered", "duplicate"] and calls == [5]


def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_with_the_original_bytes(consumer) -> None:
    attempts = []

    def broken(ctx, payload):
        attempts.append(1)
        raise RuntimeError("database said no")

    raw = delivery()
    assert run(consumer.process(record(raw), {"supplier.delivery": broken})) == "dead_lettered"
    assert len(attempts) == 3  # first try + 2 retries
    [letter] = outbox_rows(consumer.engine)
    headers = json.loads(letter.headers_json)
    assert letter.topic == "supplier.deliveries.dlq" and letter.value == raw
    assert "database said no" in headers["dlq.reason"]
    assert headers["dlq.source.offset"] == "7" and headers["dlq.source.partition"] == "1"


def test_an_invalid_event_is_dead_lettered_at_once_and_its_changes_rolled_back(consumer) -> None:
    def refuse(ctx, payload):
        ctx.outbox.add_raw(ctx.session, "somewhere", key=None, value=b"must not survive")
        raise InvalidEvent("sku S is not in the catalog")

    assert run(consumer.process(record(delivery()), {"supplier.delivery": refuse})) == "dead_lettered"
    rows = outbox_rows(consumer.engine)
    assert [r.topic for r in rows] == ["supplier.deliveries.dlq"]
    assert json.loads(rows[0].headers_json)["dlq.reason"] == "sku S is not in the catalog"


def test_the_same_bad_message_redelivered_is_dead_lettered_once(consumer) -> None:
    assert run(consumer.process(record(b"garbage"), {})) == "dead_lettered"
    run(consumer.process(record(b"garbage"), {}))
    assert len(outbox_rows(consumer.engine)) == 1


def test_known_events_a_service_does_not_handle_are_ignored_not_dead_lettered(consumer) -> None:
    assert run(consumer.process(record(delivery()), {})) == "ignored"
    assert outbox_rows(consumer.engine) == []


def test_a_batch_commits_good_events_and_sets_a_failing_one_aside_for_retry_and_dead_letter(consumer) -> None:
    applied = []  # handler calls, rolled back or not

    def handle(ctx, payload):
        if ctx.event.id == "E-bad":
            ctx.outbox.add_raw(ctx.session, "effects", key=None, value=b"rolled back with its savepoint")
            raise RuntimeError("cannot apply")
        ctx.outbox.add_raw(ctx.session, "effects", key=None, value=ctx.event.id.encode())
        applied.append(ctx.event.id)

    records = [record(delivery("E-1"), 1), record(delivery("E-bad"), 2), record(delivery("E-1"), 3),
               record(b"junk", 4), record(delivery("E-2"), 5)]
    outcomes = run(consumer.process_batch(records, {"supplier.delivery": handle}))

    assert outcomes == ["handled", "dead_lettered", "duplicate", "dead_lettered", "handled"]
    # The optimistic pass (no savepoints) ran E-1, hit E-bad and was rolled back whole; the pass
    # with a savepoint per event then ran E-1 and E-2. Only what was committed counts: once each.
    assert applied == ["E-1", "E-1", "E-2"]
    rows = outbox_rows(consumer.engine)
    assert sorted(r.value for r in rows if r.topic == "effects") == [b"E-1", b"E-2"]
    assert sorted(json.loads(r.headers_json)["dlq.source.offset"] for r in rows if r.topic.endswith(".dlq")) == ["2", "4"]


def test_a_clean_batch_runs_each_handler_once_and_counts_a_rejection_once(consumer) -> None:
    calls = []

    def handle(ctx, payload):
        calls.append(ctx.event.id)
        ctx.outbox.add_raw(ctx.session, "effects", key=None, value=ctx.event.id.encode())
        if ctx.event.id == "E-2":
            ctx.dead_letter("kept, and its original goes to the dead-letter topic")

    records = [record(delivery(f"E-{n}"), n) for n in range(1, 4)]
    outcomes = run(consumer.process_batch(records, {"supplier.delivery": handle}))

    assert outcomes == ["handled", "dead_lettered", "handled"]
    assert calls == ["E-1", "E-2", "E-3"]  # no second pass: nothing failed
    rows = outbox_rows(consumer.engine)
    assert [r.value for r in rows if r.topic == "effects"] == [b"E-1", b"E-2", b"E-3"]
    assert [json.loads(r.headers_json)["dlq.source.offset"] for r in rows if r.topic.endswith(".dlq")] == ["2"]


def test_outbox_rows_follow_their_transaction_and_savepoints(consumer) -> None:
    """Rows wait in the session until commit; a rolled-back savepoint drops the rows added inside
    it, a released one keeps them, and a rolled-back transaction writes none."""
    from shared.db import transaction

    outbox = Outbox(source="tests", topic_prefix="", clock=SettableClock(datetime(2026, 11, 11, tzinfo=UTC)))
    with transaction(consumer.engine) as session:
        outbox.add_raw(session, "t", key="k", value=b"before")
        with pytest.raises(RuntimeError):
            with session.begin_nested():
                outbox.add_raw(session, "t", key="k", value=b"inside a failed savepoint")
                raise RuntimeError("undo")
        with session.begin_nested():
            outbox.add_raw(session, "t", key="k", value=b"inside a released savepoint")
        outbox.add_raw(session, "t", key="k", value=b"after")
    with pytest.raises(RuntimeError):
        with transaction(consumer.engine) as session:
            outbox.add_raw(session, "t", key="k", value=b"rolled back with everything")
            raise RuntimeError("abort")

    rows = outbox_rows(consumer.engine)
    assert [r.value for r in rows] == [b"before", b"inside a released savepoint", b"after"]
    assert {(r.state, r.attempts) for r in rows} == {("not_published", 0)}


def test_deferred_rows_of_several_tables_follow_savepoints_and_are_visible_as_pending(tmp_path) -> None:
    """shared/deferred.py: rows wait per table; a savepoint rolled back drops the rows it added,
    including those of a table first used inside it; `pending_rows` shows what is not written yet."""
    from sqlalchemy import Column, Integer, MetaData, String, Table

    from shared.db import transaction
    from shared.deferred import defer_insert, pending_rows

    metadata = MetaData()
    steps = Table("steps", metadata, Column("id", Integer, primary_key=True), Column("note", String))
    ledger = Table("ledger", metadata, Column("id", Integer, primary_key=True), Column("delta", Integer))
    engine = make_engine(f"sqlite:///{tmp_path / 'deferred.sqlite'}")
    metadata.create_all(engine)

    with transaction(engine) as session:
        defer_insert(session, steps, {"note": "first"})
        with pytest.raises(RuntimeError):
            with session.begin_nested():
                defer_insert(session, steps, {"note": "undone"})
                defer_insert(session, ledger, {"delta": 99})  # ledger's first row, inside the savepoint
                raise RuntimeError("undo")
        with session.begin_nested():
            defer_insert(session, ledger, {"delta": 5})
        defer_insert(session, steps, {"note": "second"})
        assert [r["delta"] for r in pending_rows(session, ledger)] == [5]
        assert session.execute(steps.select()).all() == []  # nothing written before the commit

    with engine.connect() as conn:
        assert [r.note for r in conn.execute(steps.select().order_by(steps.c.id))] == ["first", "second"]
        assert [r.delta for r in conn.execute(ledger.select())] == [5]


def test_a_known_type_without_a_handler_is_passed_over_once_its_envelope_agrees_with_the_header(consumer) -> None:
    """The outbox labels every event with a `ce_type` header; a consumer with no handler for a
    known type skips it without validating its data, but only when the envelope's own `type`
    says the same: the header is the sender's word, and a mislabelled record (finding 8 of
    issue 27) is decoded and handled or dead-lettered on its content."""
    accepted = json.dumps({"specversion": "1.0", "id": "A-1", "source": "orders", "type": "order.accepted",
                           "time": "2026-11-11T00:00:00Z", "data": {"anything": "unvalidated"}}).encode()
    skipped = Record(topic="orders.events", partition=0, offset=1, key=b"O", value=accepted,
                     type_hint="order.accepted")
    mislabelled_junk = Record(topic="orders.events", partition=0, offset=2, key=b"O", value=b"not even JSON",
                              type_hint="order.accepted")
    handled_but_bad = Record(topic="orders.events", partition=0, offset=3, key=b"O", value=b"not even JSON",
                             type_hint="supplier.delivery")
    unknown_hint = Record(topic="orders.events", partition=0, offset=4, key=b"O", value=b"{}",
                          type_hint="made.up")
    mislabelled_good = Record(topic="orders.events", partition=0, offset=5, key=b"O", value=delivery(),
                              type_hint="order.accepted")
    bad_delivery = json.loads(delivery("E-2"))
    bad_delivery["data"]["quantity"] = -5
    mislabelled_bad = Record(topic="orders.events", partition=0, offset=6, key=b"O",
                             value=json.dumps(bad_delivery).encode(), type_hint="order.accepted")
    calls = []
    outcomes = run(consumer.process_batch(
        [skipped, mislabelled_junk, handled_but_bad, unknown_hint, mislabelled_good, mislabelled_bad],
        {"supplier.delivery": lambda ctx, payload: calls.append(payload.quantity)}))
    assert outcomes == ["ignored", "dead_lettered", "dead_lettered", "dead_lettered", "handled", "dead_lettered"]
    assert calls == [5]
    reasons = sorted(json.loads(r.headers_json)["dlq.source.offset"] for r in outbox_rows(consumer.engine))
    assert reasons == ["2", "3", "4", "6"]


def test_nesting_too_deep_and_records_over_the_limit_are_dead_lettered_and_the_batch_goes_on(consumer) -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    big = b'{"pad": "' + b"x" * 1_000_001 + b'"}'
    calls = []
    outcomes = run(consumer.process_batch(
        [Record(topic="supplier.deliveries", partition=0, offset=1, key=None, value=deep),
         Record(topic="supplier.deliveries", partition=0, offset=2, key=b"\xff\x00k", value=big,
                type_hint="supplier.delivery"),
         record(delivery(), offset=3)],
        {"supplier.delivery": lambda ctx, payload: calls.append(payload.quantity)}))
    assert outcomes == ["dead_lettered", "dead_lettered", "handled"] and calls == [5]
    dead = {json.loads(r.headers_json)["dlq.source.offset"]: r for r in outbox_rows(consumer.engine)}
    assert "nested" in json.loads(dead["1"].headers_json)["dlq.reason"]
    assert "over the 1,000,000-byte limit" in json.loads(dead["2"].headers_json)["dlq.reason"]
    assert json.loads(dead["2"].headers_json)["dlq.source.key_hex"] == "ff006b" and "\x00" not in dead["2"].key

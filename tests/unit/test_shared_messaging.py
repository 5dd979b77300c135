"""The consumer's guarantees against a real SQLite database (no broker needed: records are fed in)."""

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from shared.clock import SettableClock
from shared.db import create_tables, make_engine
from shared.events import SupplierDelivery, encode, new_event
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


def delivery(event_id: str = "E-1") -> bytes:
    return encode(new_event("supplier.delivery",
                            SupplierDelivery(delivery_id="D-1", sku="S", quantity=5, delivered_at=datetime.now(UTC)),
                            source="tests", subject="S", time=datetime.now(UTC), event_id=event_id))


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


def test_a_known_type_without_a_handler_is_passed_over_by_its_header_without_decoding(consumer) -> None:
    """The outbox labels every event with a `ce_type` header; a consumer with no handler for a
    known type skips it unread. A type it handles is decoded, so bad bytes are still dead-lettered."""
    skipped = Record(topic="orders.events", partition=0, offset=1, key=b"O", value=b"not even JSON",
                     type_hint="order.accepted")
    handled_but_bad = Record(topic="orders.events", partition=0, offset=2, key=b"O", value=b"not even JSON",
                             type_hint="supplier.delivery")
    unknown_hint = Record(topic="orders.events", partition=0, offset=3, key=b"O", value=b"{}",
                          type_hint="made.up")
    outcomes = run(consumer.process_batch([skipped, handled_but_bad, unknown_hint],
                                          {"supplier.delivery": lambda ctx, payload: None}))
    assert outcomes == ["ignored", "dead_lettered", "dead_lettered"]
    reasons = sorted(json.loads(r.headers_json)["dlq.source.offset"] for r in outbox_rows(consumer.engine))
    assert reasons == ["2", "3"]

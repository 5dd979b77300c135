"""The outbox hand-over (shared/messaging.py) against the real broker of the run and the real
database (SQLite; PostgreSQL under make test-postgres).

Rows an Outbox writes while its relay runs and is connected are written already leased to that
relay ('in_progress', attempts 1, lease_until = now + LEASE) and handed to it in memory when the
transaction commits, so they go out without a claiming transaction. The relay's table scan
(`_claim_batch`, at most once per interval) finds the rest: rows written while no relay ran,
rows whose send failed, rows whose lease ran out. A valid lease keeps every relay's scan off a
row (that is what stops two instances sending it); `stop()` gives back the leases of rows still
waiting in its queue.

Each relay here is a real `OutboxRelay` with a real aiokafka producer; the subclass only records
what went which way (hand-over or scan). Messages are read back from the topic with the test
suite's kafka-python reader.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from shared.clock import make_clock
from shared.db import PlatformSession, transaction
from shared.messaging import LEASE, MESSAGING_TABLES, Outbox, OutboxMessage, OutboxRelay
from shared.metrics import ServiceMetrics
from tests.support.kafka import Message, TopicReader

pytestmark = pytest.mark.integration

TABLE = OutboxMessage.__table__
CLOCK = make_clock("system")
WAIT_S = 15.0  # upper bound of every wait below; a passing test takes a fraction of it


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers


class WatchedRelay(OutboxRelay):
    """A real relay that records which rows came to it by hand-over and which by its table scan."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed_ids: list[str] = []
        self.claimed_ids: list[str] = []
        self.scans = 0
        self.on_hand_over: Callable[[list[dict[str, Any]]], None] | None = None

    def hand_over(self, rows: list[dict[str, Any]]) -> None:
        self.handed_ids.extend(row["event_id"] for row in rows)
        if self.on_hand_over is not None and rows:
            self.on_hand_over(rows)
        super().hand_over(rows)

    def _claim_batch(self) -> list[dict[str, Any]]:
        rows = super()._claim_batch()
        self.claimed_ids.extend(row["event_id"] for row in rows)
        self.scans += 1
        return rows


class DiesAfterCommit(WatchedRelay):
    """An instance whose process dies right after committing: its rows are written leased to it,
    and the hand-over never reaches a sender."""

    def hand_over(self, rows: list[dict[str, Any]]) -> None:
        self.handed_ids.extend(row["event_id"] for row in rows)


class Stalled(WatchedRelay):
    """Connected, but its loop does not get to send anything until `gate` is set (a producer that
    hangs): what is handed over stays in the queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()

    async def publish_pending(self) -> int:
        await self.gate.wait()
        return await super().publish_pending()


class SlowMarking(WatchedRelay):
    """Its markings wait until `release` is set before touching the database, as a marking waits
    for the writer's turn behind a long consumer batch; `fail_first` makes the first one fail."""

    def __init__(self, *args: Any, fail_first: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marking_started = threading.Event()
        self.release = threading.Event()
        self.markings: list[list[str]] = []
        self._fail_next = fail_first

    def _mark(self, done: list[str], failed: list[tuple[str, str]], refused: Any = ()) -> None:
        if done:
            self.marking_started.set()
            assert self.release.wait(WAIT_S), "the test never released the marking"
            self.markings.append(list(done))
            if self._fail_next:
                self._fail_next = False
                raise RuntimeError("database unavailable")
        super()._mark(done, failed, refused)


@pytest.fixture
def engine(engine_with):
    return engine_with(MESSAGING_TABLES)


@pytest.fixture
def topic(kafka_bootstrap: str) -> str:
    """A fresh one-partition topic, so the order on the topic is the order of the sends."""
    name = f"t{uuid.uuid4().hex[:10]}.outbox.handover"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="handover-test", request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        deadline = time.monotonic() + WAIT_S
        while name not in set(admin.list_topics()):
            assert time.monotonic() < deadline, f"topic {name} not listed after creation"
            time.sleep(0.1)
    finally:
        admin.close()
    return name


@pytest.fixture
def reader(kafka_bootstrap: str, topic: str):
    reader = TopicReader(kafka_bootstrap, topic)
    yield reader
    reader.close()


@pytest.fixture
async def relays(kafka_bootstrap: str, engine):
    """Makes relays on the test's database and the run's broker; stops whatever is still running."""
    made: list[OutboxRelay] = []

    def make(cls: type[WatchedRelay] = WatchedRelay, **kwargs: Any) -> WatchedRelay:
        relay = cls(engine, kafka_bootstrap, CLOCK, ServiceMetrics("test"),
                    client_id=f"handover-test-{len(made)}", **{"interval_s": 0.1, **kwargs})
        made.append(relay)
        return relay

    yield make
    for relay in made:
        await asyncio.wait_for(relay.stop(), timeout=WAIT_S)


async def started(relay: WatchedRelay) -> WatchedRelay:
    await relay.start()
    await until(lambda: relay.takes_hand_overs(), what="relay connected to the broker")
    return relay


async def until(condition: Callable[[], Any], *, what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        await asyncio.sleep(0.05)


def outbox_for(topic: str, relay: OutboxRelay | None) -> Outbox:
    # add() below writes to `topic_prefix` as the full topic name: the test's own topic.
    return Outbox(source="handover-test", topic_prefix=topic, clock=CLOCK, relay=relay)


def add(outbox: Outbox, session: Session, event_id: str, key: str = "K-1") -> None:
    """One outbox row whose value is its event id, as a handler's `ctx.outbox.publish` adds it."""
    outbox.add_raw(session, outbox.topic_prefix, key=key, value=event_id.encode(),
                   headers={"ce_type": "test.event"}, event_id=event_id)


def ids(prefix: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix}-{tag}-{i}" for i in range(n)]


def rows_in_db(engine, event_ids: Iterable[str] | None = None) -> dict[str, Any]:
    query = select(TABLE.c.event_id, TABLE.c.state, TABLE.c.attempts, TABLE.c.lease_until,
                   TABLE.c.published_at, TABLE.c.last_error).order_by(TABLE.c.id)
    if event_ids is not None:
        query = query.where(TABLE.c.event_id.in_(list(event_ids)))
    with Session(engine) as session:
        return {row.event_id: row for row in session.execute(query)}


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def all_published(engine, event_ids: list[str]) -> bool:
    rows = rows_in_db(engine, event_ids)
    return len(rows) == len(event_ids) and all(row.state == "published" for row in rows.values())


async def on_topic(reader: TopicReader, event_ids: list[str], timeout_s: float = WAIT_S) -> list[Message]:
    """Waits (in a thread: the relay shares this event loop) until every id is on the topic."""
    wanted = set(event_ids)
    return await asyncio.to_thread(reader.wait_for, lambda m: m.value.decode() in wanted,
                                   count=len(wanted), timeout_s=timeout_s)


async def topic_settled(reader: TopicReader, quiet_s: float = 1.0) -> list[str]:
    """Every event id read from the topic, once nothing new arrived for `quiet_s`."""
    return [m.value.decode() for m in await asyncio.to_thread(reader.settle, quiet_s)]


def assert_leased_to_a_relay(row: Any, written_at: datetime) -> None:
    assert (row.state, row.attempts, row.published_at) == ("in_progress", 1, None)
    assert row.lease_until is not None
    lease_end = utc(row.lease_until)
    assert written_at + LEASE - timedelta(seconds=5) <= lease_end <= datetime.now(UTC) + LEASE + timedelta(seconds=1)


# ---------------------------------------------------------------------------------------------
# 1. Committed through a running relay: leased at the INSERT, handed over, published once


async def test_committed_rows_are_written_leased_handed_over_and_published_without_a_claim(
        engine, topic, reader, relays) -> None:
    relay = await started(relays())
    outbox = outbox_for(topic, relay)
    event_ids = ids("committed", 5)
    seen_at_hand_over: dict[str, Any] = {}
    # What the database holds at the moment of the hand-over, i.e. what the commit wrote.
    relay.on_hand_over = lambda rows: seen_at_hand_over.update(rows_in_db(engine, [r["event_id"] for r in rows]))
    scans_before = relay.scans
    written_at = datetime.now(UTC)

    with transaction(engine) as session:
        for n, event_id in enumerate(event_ids):
            add(outbox, session, event_id, key=f"K-{n % 2}")

    assert relay.handed_ids == event_ids  # handed over by the commit itself, in commit order
    assert list(seen_at_hand_over) == event_ids
    for row in seen_at_hand_over.values():
        assert_leased_to_a_relay(row, written_at)

    messages = await on_topic(reader, event_ids)
    assert [m.value.decode() for m in messages] == event_ids  # one partition: in commit order
    assert [m.key for m in messages] == ["K-0", "K-1", "K-0", "K-1", "K-0"]
    assert all(m.headers == {"ce_type": "test.event"} for m in messages)

    await until(lambda: all_published(engine, event_ids), what="rows marked published")
    # Scans went on meanwhile (interval 0.1 s), and none of them claimed these rows: one attempt,
    # the one leased at the INSERT.
    await until(lambda: relay.scans >= scans_before + 3, what="three more table scans")
    assert not set(relay.claimed_ids) & set(event_ids)
    for event_id, row in rows_in_db(engine, event_ids).items():
        assert (row.state, row.attempts, row.lease_until, row.last_error) == ("published", 1, None, None), event_id
        assert row.published_at is not None
    assert sorted(await topic_settled(reader)) == sorted(event_ids)  # each exactly once


# ---------------------------------------------------------------------------------------------
# 2. What a transaction or a savepoint rolls back is neither handed over nor published


async def test_a_rolled_back_transaction_hands_over_and_publishes_nothing(engine, topic, reader, relays) -> None:
    relay = await started(relays())
    outbox = outbox_for(topic, relay)
    [kept_first, dropped_1, dropped_2, duplicate_companion, kept_last] = ids("rollback", 5)

    with transaction(engine) as session:
        add(outbox, session, kept_first)
    with pytest.raises(RuntimeError), transaction(engine) as session:
        add(outbox, session, dropped_1)
        add(outbox, session, dropped_2)
        raise RuntimeError("the handler failed")
    # A commit that fails in the outbox INSERT itself (an event id already written): nothing of it.
    with pytest.raises(IntegrityError), transaction(engine) as session:
        add(outbox, session, duplicate_companion)
        add(outbox, session, kept_first)
    with transaction(engine) as session:
        add(outbox, session, kept_last)

    assert relay.handed_ids == [kept_first, kept_last]
    await on_topic(reader, [kept_first, kept_last])
    await until(lambda: all_published(engine, [kept_first, kept_last]), what="kept rows published")
    assert list(rows_in_db(engine)) == [kept_first, kept_last]
    assert [(r.state, r.attempts) for r in rows_in_db(engine).values()] == [("published", 1)] * 2
    assert await topic_settled(reader) == [kept_first, kept_last]
    assert not set(relay.claimed_ids) & {kept_first, kept_last}


def _rolled_back_savepoint(outbox: Outbox, session: Session, event_id: str) -> None:
    savepoint = session.begin_nested()
    add(outbox, session, event_id)
    savepoint.rollback()


def _released_savepoint(outbox: Outbox, session: Session, event_id: str) -> None:
    with session.begin_nested():
        add(outbox, session, event_id)


# Each layout: what the transaction does, as (step, kept?) pairs, in order. "released" is a
# savepoint that succeeded, as every event of a consumer batch redone with a savepoint per event
# (EventConsumer._run_batch) or inventory's multi-sku reservation (store.try_reserve).
SAVEPOINT_LAYOUTS = {
    "before-and-after-a-rolled-back-one": [("plain", True), ("rolled_back", False), ("plain", True)],
    "before-a-rolled-back-one": [("plain", True), ("plain", True), ("rolled_back", False)],
    "released-and-rolled-back": [("released", True), ("rolled_back", False), ("released", True)],
    "released-only": [("released", True), ("released", True)],
}


@pytest.mark.parametrize("layout", list(SAVEPOINT_LAYOUTS))
async def test_savepoints_keep_only_what_they_commit_and_the_committed_rows_are_handed_over(
        engine, topic, reader, relays, layout) -> None:
    relay = await started(relays())
    outbox = outbox_for(topic, relay)
    steps = SAVEPOINT_LAYOUTS[layout]
    event_ids = ids("savepoint", len(steps))
    kept = [event_id for event_id, (_, keep) in zip(event_ids, steps) if keep]
    dropped = [event_id for event_id, (_, keep) in zip(event_ids, steps) if not keep]
    written_at = datetime.now(UTC)

    with transaction(engine) as session:
        for event_id, (how, _) in zip(event_ids, steps):
            if how == "plain":
                add(outbox, session, event_id)
            elif how == "released":
                _released_savepoint(outbox, session, event_id)
            else:
                _rolled_back_savepoint(outbox, session, event_id)

    committed = rows_in_db(engine)
    assert list(committed) == kept  # the rolled-back savepoint's rows were never written
    for row in committed.values():
        if row.state == "in_progress":  # not yet marked published by the relay
            assert_leased_to_a_relay(row, written_at)
    # Written leased to this relay, so they must have been handed over to it at the commit:
    # otherwise nothing sends them until their lease runs out (LEASE, 30 s) and a scan claims them.
    assert relay.handed_ids == kept, (
        f"committed leased rows {kept} but handed over {relay.handed_ids}; in the table: "
        f"{[(e, r.state, r.attempts) for e, r in committed.items()]}")

    await on_topic(reader, kept, timeout_s=10.0)
    await until(lambda: all_published(engine, kept), what="kept rows published")
    assert [r.attempts for r in rows_in_db(engine).values()] == [1] * len(kept)
    published = await topic_settled(reader)
    assert published == kept and not set(published) & set(dropped)


# ---------------------------------------------------------------------------------------------
# 3. Written while no relay runs: unleased, and the relay's table scan publishes them


async def test_rows_written_while_the_relay_is_not_running_are_published_by_its_scan(
        engine, topic, reader, relays) -> None:
    relay = relays()
    with_relay, without_relay = outbox_for(topic, relay), outbox_for(topic, None)
    [before_start, no_relay, after_stop] = ids("unleased", 3)

    with transaction(engine) as session:
        add(with_relay, session, before_start)  # its relay exists but is not started
        add(without_relay, session, no_relay)
    for row in rows_in_db(engine).values():
        assert (row.state, row.attempts, row.lease_until) == ("not_published", 0, None)
    assert relay.handed_ids == []

    await started(relay)
    await on_topic(reader, [before_start, no_relay])
    await until(lambda: all_published(engine, [before_start, no_relay]), what="scanned rows published")
    assert set(relay.claimed_ids) >= {before_start, no_relay}  # found by the scan...
    assert relay.handed_ids == []  # ...not handed over
    assert [r.attempts for r in rows_in_db(engine).values()] == [1, 1]  # claimed once

    await relay.stop()
    assert not relay.takes_hand_overs()
    with transaction(engine) as session:
        add(with_relay, session, after_stop)
    row = rows_in_db(engine, [after_stop])[after_stop]
    assert (row.state, row.attempts, row.lease_until) == ("not_published", 0, None)
    assert relay.handed_ids == []

    await started(relay)  # the same relay started again, as after a restart
    await on_topic(reader, [after_stop])
    await until(lambda: all_published(engine, [after_stop]), what="row written while stopped published")
    assert after_stop in relay.claimed_ids and relay.handed_ids == []
    assert rows_in_db(engine, [after_stop])[after_stop].attempts == 1
    assert sorted(await topic_settled(reader)) == sorted([before_start, no_relay, after_stop])


# ---------------------------------------------------------------------------------------------
# 4. A valid lease keeps other instances' scans off a row; an expired one lets them take it


async def test_a_leased_row_is_left_to_its_instance_until_the_lease_runs_out(engine, topic, reader, relays) -> None:
    first = await started(relays(DiesAfterCommit))  # instance 1: commits, then dies before sending
    second = await started(relays())  # instance 2 on the same database
    event_ids = ids("leased", 3)
    written_at = datetime.now(UTC)

    with transaction(engine) as session:
        for event_id in event_ids:
            add(outbox_for(topic, first), session, event_id)
    assert first.handed_ids == event_ids
    for row in rows_in_db(engine).values():
        assert_leased_to_a_relay(row, written_at)

    # Both relays scan every 0.1 s; while the lease holds, neither claims the rows.
    scans = first.scans, second.scans
    await until(lambda: first.scans >= scans[0] + 5 and second.scans >= scans[1] + 5,
                what="five more scans by each relay")
    assert await asyncio.to_thread(second._claim_batch) == []  # a scan of its own, right now
    assert not (set(first.claimed_ids) | set(second.claimed_ids)) & set(event_ids)
    assert [(r.state, r.attempts) for r in rows_in_db(engine).values()] == [("in_progress", 1)] * 3
    assert await topic_settled(reader, quiet_s=0.5) == []

    await first.stop()  # the process is gone: nothing of it releases the leases
    assert [r.state for r in rows_in_db(engine).values()] == ["in_progress"] * 3
    with transaction(engine) as session:
        session.execute(update(TABLE).where(TABLE.c.event_id.in_(event_ids))
                        .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))

    await on_topic(reader, event_ids)
    await until(lambda: all_published(engine, event_ids), what="expired rows published by the second relay")
    assert set(second.claimed_ids) >= set(event_ids) and second.handed_ids == []
    assert [r.attempts for r in rows_in_db(engine).values()] == [2] * 3  # leased at the INSERT, claimed once
    assert sorted(await topic_settled(reader)) == sorted(event_ids)  # sent once, by the second instance


# ---------------------------------------------------------------------------------------------
# 5. stop() gives back the leases of rows still waiting in the hand-over queue


async def test_stop_releases_rows_still_waiting_in_the_hand_over_queue(engine, topic, reader, relays) -> None:
    stalled = await started(relays(Stalled))
    event_ids = ids("queued", 3)

    with transaction(engine) as session:
        for event_id in event_ids:
            add(outbox_for(topic, stalled), session, event_id)
    assert [row["event_id"] for row in stalled._handed] == event_ids
    assert [(r.state, r.attempts) for r in rows_in_db(engine).values()] == [("in_progress", 1)] * 3

    await asyncio.wait_for(stalled.stop(), timeout=WAIT_S)
    assert len(stalled._handed) == 0 and not stalled.takes_hand_overs()
    for event_id, row in rows_in_db(engine).items():
        assert (row.state, row.lease_until, row.last_error) == ("not_published", None, "relay stopped"), event_id
    assert await topic_settled(reader, quiet_s=0.5) == []

    # Released, not left to run out: the next relay publishes them at once (well inside LEASE).
    successor = await started(relays())
    started_at = time.monotonic()
    await on_topic(reader, event_ids, timeout_s=10.0)
    await until(lambda: all_published(engine, event_ids), what="released rows published")
    assert time.monotonic() - started_at < 10.0
    assert set(successor.claimed_ids) >= set(event_ids)
    assert [r.attempts for r in rows_in_db(engine).values()] == [2] * 3
    assert sorted(await topic_settled(reader)) == sorted(event_ids)


# ---------------------------------------------------------------------------------------------
# 6. Marking runs beside the sends: a slow marking does not hold up what is handed over next


async def test_events_handed_over_while_a_marking_waits_are_sent_without_waiting_for_it(
        engine, topic, reader, relays) -> None:
    relay = await started(relays(SlowMarking))
    outbox = outbox_for(topic, relay)
    [first, second] = ids("marking", 2)

    with transaction(engine) as session:
        add(outbox, session, first)
    await on_topic(reader, [first])
    assert await asyncio.to_thread(relay.marking_started.wait, WAIT_S), "the first row's marking did not start"

    # The marking of `first` is stuck; `second` is committed and handed over meanwhile.
    with transaction(engine) as session:
        add(outbox, session, second)
    await on_topic(reader, [first, second], timeout_s=5.0)
    assert rows_in_db(engine, [first])[first].state == "in_progress"  # not marked yet: still stuck
    assert relay.markings == []

    relay.release.set()
    await until(lambda: all_published(engine, [first, second]), what="both rows marked published")
    assert relay.markings[0] == [first] and [e for m in relay.markings for e in m] == [first, second]
    assert [r.attempts for r in rows_in_db(engine).values()] == [1, 1]
    assert await topic_settled(reader) == [first, second]  # each sent once


async def test_a_failed_marking_keeps_its_rows_for_the_next_one(engine, topic, reader, relays) -> None:
    relay = await started(relays(SlowMarking, fail_first=True))
    relay.release.set()
    event_ids = ids("remark", 3)

    with transaction(engine) as session:
        for event_id in event_ids:
            add(outbox_for(topic, relay), session, event_id)
    await on_topic(reader, event_ids)
    await until(lambda: all_published(engine, event_ids), what="rows marked published after a failed marking")
    assert relay.markings[0] == event_ids  # the one that failed...
    assert sorted(e for m in relay.markings[1:] for e in m) == sorted(event_ids)  # ...then marked again
    assert sorted(await topic_settled(reader)) == sorted(event_ids)  # not sent again
    assert not relay.claimed_ids


# ---------------------------------------------------------------------------------------------
# 7. A scan that finds nothing does not wait for the writer's turn: the relay's loop awaits it,
#    and what is handed over meanwhile would wait with it. (SQLite: the turn is a lock in the
#    process; PostgreSQL has none, and there this shows only that the scan still finds the row.)


async def test_scans_that_find_nothing_go_on_while_a_writer_holds_its_turn(engine, topic, reader, relays) -> None:
    relay = await started(relays())
    [held] = ids("held", 1)
    holding, release = threading.Event(), threading.Event()

    def long_writer() -> None:
        with transaction(engine) as session:
            add(outbox_for(topic, None), session, held)  # unleased: only a scan publishes it
            holding.set()
            assert release.wait(WAIT_S), "the test never released the writer"

    writer = threading.Thread(target=long_writer, name="long-writer")
    writer.start()
    try:
        assert await asyncio.to_thread(holding.wait, WAIT_S), "the writer did not start"
        scans = relay.scans
        await until(lambda: relay.scans >= scans + 5, what="five scans while the writer holds its turn",
                    timeout_s=3.0)
        assert await asyncio.wait_for(asyncio.to_thread(relay.backlog), timeout=3.0) == 0
        assert relay.claimed_ids == []  # the row is not committed yet: nothing to see
    finally:
        release.set()
        await asyncio.to_thread(writer.join, WAIT_S)

    await on_topic(reader, [held])
    await until(lambda: all_published(engine, [held]), what="the committed row claimed and published")
    assert relay.claimed_ids == [held] and relay.handed_ids == []
    assert await topic_settled(reader) == [held]


async def test_a_transactions_rows_share_their_times_and_the_next_transaction_takes_its_own(
        engine, topic, reader, relays) -> None:
    """The outbox stamps all rows of a transaction with one created time and one lease end
    (converted once for the database); a later transaction of the same session gets fresh ones,
    so its lease runs from its own writing, not the first one's."""
    relay = await started(relays())
    outbox = outbox_for(topic, relay)
    first, second = ids("times-a", 3), ids("times-b", 2)
    with PlatformSession(engine, expire_on_commit=False) as session:  # one session, two transactions in turn
        for event_id in first:
            add(outbox, session, event_id)
        session.commit()
        time.sleep(0.02)
        for event_id in second:
            add(outbox, session, event_id)
        session.commit()
    with Session(engine) as session:
        rows = {r.event_id: r for r in session.execute(
            select(TABLE.c.event_id, TABLE.c.created_at, TABLE.c.lease_until).where(TABLE.c.event_id.in_(first + second)))}
    for column in ("created_at", "lease_until"):
        stamps_first = {getattr(rows[e], column) for e in first}
        stamps_second = {getattr(rows[e], column) for e in second}
        assert len(stamps_first) == 1 and len(stamps_second) == 1, column
        assert utc(stamps_second.pop()) > utc(stamps_first.pop()), column
    await on_topic(reader, first + second)  # and all of them were handed over and sent

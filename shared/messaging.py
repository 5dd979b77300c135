"""Messaging guarantees every service uses: transactional outbox, inbox dedupe, dead letters, retries.

- Outbox: a handler's or an HTTP route's state changes and the events they cause are written in
  one database transaction (`OutboxMessage` rows). `OutboxRelay` publishes them with an
  idempotent producer (acks=all) and marks them published. A crash between commit and publish
  loses nothing: the rows are still pending when the service comes back.
- Inbox: `InboxEntry` records each processed event id in the same transaction as its effects,
  so a redelivered event changes nothing.
- Offsets are committed by FastStream only after `EventConsumer` returns, i.e. after the
  handler's transaction committed (ack policy NACK_ON_ERROR: an infrastructure failure seeks
  back and the message is delivered again).
- Dead letters: bytes that are not an event, an event that fails its contract, or one whose
  handler keeps failing after bounded retries goes to `<topic>.dlq` with the original bytes as
  the value and the reason and source topic/partition/offset as headers. They are written
  through the outbox too, so a dead letter is never lost either.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import anyio
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (InvalidProducerEpoch, InvalidTopicError, MessageSizeTooLargeError, OutOfOrderSequenceNumber,
                             ProducerFenced, RecordListTooLargeError, RecordTooLargeError, UnknownProducerId)
from sqlalchemy import Column, Engine, LargeBinary, Text, bindparam, func, insert, or_, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from shared.clock import Clock
from shared.db import read_only, transaction
from shared.deferred import defer_insert, take_written_rows
from shared.fastsql import FastStatement
from shared.events import CloudEvent, Contract, UndecodableEvent, decode_envelope
from shared.event_registry import EVENT_MODELS, decode_event, decode_payload, encode_new_event
from shared.limits import MAX_JSON_DEPTH, MAX_RECORD_BYTES
from shared.logs import current_event_id, current_subject
from shared.metrics import ServiceMetrics
from shared.topics import TopicSpec, dlq_name

log = logging.getLogger(__name__)

UNPUBLISHED = ("not_published", "in_progress")

LEASE = timedelta(seconds=30)
"""How long a relay may hold claimed rows before another relay may take them over."""
MAX_BATCH_BYTES = 512 * 1024
"""The relay producer's batch size per partition."""
MARK_EVERY_S = 0.1
"""How long sent rows may wait to be marked published (OutboxRelay)."""


# ---------------------------------------------------------------------------------------------
# Tables (created in every service's own database)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True)
    topic: str
    key: str | None = None
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    # not_published -> in_progress -> published; back to not_published when publishing fails;
    state: str = Field(default="not_published", index=True)
    # refused: the broker refuses it for good (too large, say); kept, counted, never sent again
    attempts: int = 0
    created_at: datetime
    lease_until: datetime | None = None
    published_at: datetime | None = None
    last_error: str | None = None


class InboxEntry(SQLModel, table=True):
    __tablename__ = "inbox_entry"

    consumer: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    topic: str
    processed_at: datetime
    # What the event said (content_digest), so an id reused for other content is caught.
    digest: str | None = None


MESSAGING_TABLES = [OutboxMessage.__table__, InboxEntry.__table__]

_ADD_INBOX_ENTRIES = FastStatement(insert(InboxEntry.__table__))  # every consumed batch
# Which of a batch's events this consumer has already handled: one plan per batch length (at
# most the consumer's batch size). Through `Session.exec` it took 0.27-0.33 ms for 10 ids; 24 us so.
_SEEN_IN_INBOX = FastStatement(select(InboxEntry.event_id, InboxEntry.digest).where(
    InboxEntry.consumer == bindparam("consumer"), col(InboxEntry.event_id).in_(bindparam("ids", expanding=True))))


# ---------------------------------------------------------------------------------------------
# Writing to the outbox


@dataclass
class Outbox:
    """Adds events to the outbox inside the caller's transaction."""

    source: str
    topic_prefix: str
    clock: Clock
    # The service's relay, when it runs in this process: rows are then written already leased to
    # it and handed over in memory as the transaction commits (OutboxRelay.hand_over).
    relay: OutboxRelay | None = None

    def publish(self, session: Session, spec: TopicSpec, type_: str, payload: Contract, *,
                key: str, subject: str | None = None, event_id: str | None = None) -> str:
        """Adds the event to the outbox of the session's transaction; returns its id."""
        event_id, value = encode_new_event(type_, payload, source=self.source, subject=subject or key,
                                           time=self.clock.now(), event_id=event_id)
        self.add_raw(session, self.topic_prefix + spec.name, key=key, value=value,
                     event_id=event_id, headers={"ce_type": type_})
        return event_id

    def add_raw(self, session: Session, topic: str, *, key: str | None, value: bytes,
                headers: dict[str, str] | None = None, event_id: str | None = None) -> None:
        # One created time and one lease end for all of a transaction's rows (they commit
        # together): two objects, converted for the database once each instead of per row.
        times = session.info.get(_OUTBOX_TIMES)
        if times is None:
            times = session.info[_OUTBOX_TIMES] = (self.clock.now(), self.relay.lease_end() if self.relay else None)
        row = {
            "event_id": event_id or str(uuid.uuid4()), "topic": topic, "key": key, "value": value,
            "headers_json": _headers_json(headers), "state": "not_published", "attempts": 0,
            "created_at": times[0], "lease_until": None,
        }
        relay = self.relay
        if relay is not None and relay.takes_hand_overs():
            # Leased to this process's relay from the start, so no relay (this one's database scan
            # or another instance's) claims it while it is on its way; if this process dies the
            # lease runs out and any relay publishes it.
            row.update(state="in_progress", attempts=1, lease_until=times[1])
            session.info[_HAND_OVER_TO] = relay
        # Written at commit with the transaction's other append-only rows (shared/deferred.py).
        defer_insert(session, OutboxMessage.__table__, row)


def _headers_json(headers: dict[str, str] | None) -> str:
    if headers is not None and len(headers) == 1 and "ce_type" in headers:
        return _type_header_json(headers["ce_type"])  # every event the services publish
    return json.dumps(headers or {})


@lru_cache(maxsize=256)
def _type_header_json(type_: str) -> str:
    return json.dumps({"ce_type": type_})


_HAND_OVER_TO = "outbox.hand_over_to"  # session.info: the relay that gets this transaction's rows
_OUTBOX_TIMES = "outbox.times"  # session.info: (created_at, lease end) of this transaction's rows


@sa_event.listens_for(Session, "after_commit")
def _hand_committed_rows_to_relay(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released (SQLAlchemy calls this for those too): rows come at the end
    relay = session.info.pop(_HAND_OVER_TO, None)
    if relay is not None:
        # Only what this commit wrote: a rolled-back transaction or savepoint wrote nothing.
        relay.hand_over([r for r in take_written_rows(session, OutboxMessage.__table__)
                         if r["state"] == "in_progress"])


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_outbox_times(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the transaction itself ended, not a savepoint: the next one takes its own
        session.info.pop(_OUTBOX_TIMES, None)


def dead_letter_headers(*, reason: str, topic: str, partition: int, offset: int, consumer: str,
                        failed_at: datetime) -> dict[str, str]:
    return {
        "dlq.reason": reason[:2000],
        "dlq.source.topic": topic,
        "dlq.source.partition": str(partition),
        "dlq.source.offset": str(offset),
        "dlq.consumer": consumer,
        "dlq.failed_at": failed_at.isoformat(),
    }


# ---------------------------------------------------------------------------------------------
# Relay: outbox -> Kafka


# After these an idempotent producer's sender has stopped: it must be replaced (OutboxRelay).
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId, InvalidProducerEpoch)

# The broker (or the producer, before sending) will refuse this record however often it is sent.
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, InvalidTopicError,
                    UnicodeError, TypeError, ValueError)


def refused_for_good(error: BaseException) -> bool:
    return isinstance(error, REFUSED_FOR_GOOD)


class OutboxRelay:
    """Publishes outbox rows with an idempotent producer, then marks them published.

    Two ways in. Rows this process commits are handed over in memory as the transaction
    commits (`hand_over`), already leased to this relay, and go out at once: no claiming
    transaction, no wait for the writer's turn, on the way of every event. Everything else is
    found by scanning the table, in id order: rows written without a running relay, rows whose
    publishing failed, and rows whose lease ran out because the process holding them died.
    """

    def __init__(self, engine: Engine, bootstrap_servers: str, clock: Clock, metrics: ServiceMetrics,
                 *, client_id: str, interval_s: float = 0.2, batch_size: int = 1000, linger_ms: int = 5,
                 client_kwargs: dict[str, Any] | None = None, hand_over_limit: int = 20_000) -> None:
        self._engine = engine
        # Security settings for the producer (shared/kafka_security.aiokafka_kwargs).
        self._client_kwargs = dict(client_kwargs or {})
        self._bootstrap = bootstrap_servers
        self._clock = clock
        self._metrics = metrics
        self._client_id = client_id
        self._interval = interval_s
        self._batch_size = batch_size
        self._linger_ms = linger_ms
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.connected = False
        # Committed rows (outbox column dicts) waiting to be sent, in commit order. Appended by
        # worker threads, taken by the relay's task: deque's append and popleft are atomic.
        self._handed: deque[dict[str, Any]] = deque()
        # Beyond this many waiting rows (the broker is away or slow) new rows are written
        # unleased instead, and the table scan sends them once the broker is back.
        self._hand_over_limit = hand_over_limit
        self._last_scan = 0.0
        self._last_hand_over = 0.0  # when hand-overs last came: the relay counts as busy for a second after
        # Event ids sent and acknowledged, not yet marked published. Marked together, at most
        # MARK_EVERY_S apart (or when this many pile up): at peak one marking transaction per
        # pass was a writer's turn, a BEGIN and a COMMIT every few milliseconds. Until marked
        # they are leased, so nobody sends them again; after a crash they go out once more
        # (consumers drop the duplicates).
        self._sent_unmarked: list[str] = []
        self._last_mark = 0.0
        # Marking runs beside the sends, not in their way: its transaction waits for the
        # writer's turn behind the consumers' batches (40 ms at p90 in a 300 orders/s run on a
        # slow machine), and events handed over meanwhile waited with it.
        self._marking: asyncio.Task[None] | None = None
        self._mark_limit = 4 * batch_size

    def takes_hand_overs(self) -> bool:
        return self._task is not None and self.connected and len(self._handed) < self._hand_over_limit

    def lease_end(self) -> datetime:
        return self._clock_now() + LEASE

    def hand_over(self, rows: list[dict[str, Any]]) -> None:
        """Rows just committed, leased to this relay; called by the committing thread."""
        if rows:
            self._handed.extend(rows)
            self.wake()

    def wake(self) -> None:
        """Called after a commit that added rows; safe from worker threads."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wakeup.set)

    _loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None  # from now on rows are written unleased again
        if task:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        try:
            await self.flush_marks()
        except Exception:
            log.warning("could not mark %d sent outbox rows published; they will be sent again",
                        len(self._sent_unmarked), exc_info=True)
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.stop(), timeout=10)
            except Exception:
                log.warning("outbox producer did not stop cleanly", exc_info=True)
        self._producer = None
        self.connected = False
        if self._handed:
            # Not sent: give up their leases now rather than make the next start wait them out.
            waiting = [row["event_id"] for row in self._handed]
            self._handed.clear()
            try:
                await anyio.to_thread.run_sync(self._mark, [], [(event_id, "relay stopped") for event_id in waiting])
            except Exception:
                log.warning("could not release %d handed-over outbox rows; their lease will run out",
                            len(waiting), exc_info=True)

    async def _connect(self) -> AIOKafkaProducer:
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap, client_id=self._client_id,
                enable_idempotence=True, acks="all", linger_ms=self._linger_ms, request_timeout_ms=15000,
                # aiokafka holds one open batch per partition and makes a send wait while it is
                # full; at 16 KiB (its default, about 25 events) the relay sent a request per
                # few dozen events and waited on each. Below the broker's 1 MiB message limit.
                max_batch_size=MAX_BATCH_BYTES,
                **self._client_kwargs,
            )
            try:
                await producer.start()
                self.connected = True
                return producer
            except Exception as exc:
                log.warning("outbox relay cannot reach Kafka yet (%s); retrying", exc)
                await producer.stop()
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        self._producer = await self._connect()
        last_backlog_check = 0.0
        while True:
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("outbox relay pass failed; will retry")
                published = 0
                if isinstance(exc, FATAL_PRODUCER_ERRORS):
                    await self._renew_producer(exc)
                await asyncio.sleep(1.0)
            if time.monotonic() - last_backlog_check > 2.0:
                last_backlog_check = time.monotonic()
                backlog, refused = await anyio.to_thread.run_sync(self.backlog_and_refused)
                self._metrics.outbox_backlog.set(backlog)
                self._metrics.outbox_refused_rows.set(refused)
            if published == 0:
                self._mark_when_due()
                self._wakeup.clear()
                if self._handed:
                    continue  # handed over while this pass ran: its wake-up may be the one cleared
                # With sent rows still unmarked, come back when they are due even if idle.
                timeout = min(self._interval, MARK_EVERY_S) if self._sent_unmarked else self._interval
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
                except TimeoutError:
                    pass

    async def publish_pending(self) -> int:
        rows: list[dict[str, Any]] = []
        # Rows only the table knows (failed sends, expired leases, rows written while no relay
        # ran or while the hand-over queue was full) wait at most an interval, or a second while
        # hand-overs keep the relay busy: at peak each scan steps over every row in flight, for
        # nothing nearly always. They are older than the handed-over ones, so they go first.
        # "Busy" means hand-overs came within the last second, not that some wait right now: at
        # a steady few hundred a second the queue is empty at most passes, and scanning every
        # interval then was a writer's turn the sends waited for, five times a second.
        busy = self._handed or time.monotonic() - self._last_hand_over < 1.0
        if time.monotonic() - self._last_scan >= (max(self._interval, 1.0) if busy else self._interval):
            self._last_scan = time.monotonic()
            rows = await anyio.to_thread.run_sync(self._claim_batch)
            if len(rows) == self._batch_size:
                self._last_scan = 0.0  # more where these came from: look again on the next pass
        rows += self._take_handed()
        if not rows:
            return 0
        assert self._producer is not None
        # send() only appends to the producer's batch, in call order, so per-partition order is
        # the order of `rows`; the futures resolve when the brokers acknowledged (acks=all).
        # A row is sent on its own terms: one the producer refuses (too large, say) must not stop
        # the rows beside it.
        pending: list[tuple[dict[str, Any], Any]] = []  # (row, its future, or why send() refused it)
        # A topic whose send failed for a reason of the moment (no metadata within the timeout,
        # say) is not tried again in this pass: each try could wait that timeout once more.
        unavailable: dict[str, BaseException] = {}
        for row in rows:
            if row["topic"] in unavailable:
                pending.append((row, unavailable[row["topic"]]))
                continue
            try:
                pending.append((row, await self._producer.send(
                    row["topic"], value=row["value"],
                    key=row["key"].encode() if row["key"] is not None else None,
                    headers=_kafka_headers(row["headers_json"]),
                )))
            except Exception as exc:
                pending.append((row, exc))
                if not refused_for_good(exc):
                    unavailable[row["topic"]] = exc
        acks = iter(await asyncio.gather(*(f for _, f in pending if not isinstance(f, BaseException)),
                                         return_exceptions=True))
        outcomes = [(row, f if isinstance(f, BaseException) else next(acks)) for row, f in pending]
        results = [result for _, result in outcomes]
        done = [row["event_id"] for row, result in outcomes if not isinstance(result, BaseException)]
        failed = [(row["event_id"], repr(result)) for row, result in outcomes
                  if isinstance(result, BaseException) and not refused_for_good(result)]
        refused = [(row, repr(result)) for row, result in outcomes
                   if isinstance(result, BaseException) and refused_for_good(result)]
        self._sent_unmarked += done
        if failed or refused:
            await anyio.to_thread.run_sync(self._mark, [], failed, [(r["event_id"], e) for r, e in refused])
        for row, error in refused:
            self._metrics.outbox_refused.labels(topic=row["topic"]).inc()
            log.error("outbox: the broker refuses event %s on %s for good (%s); kept in the outbox as "
                      "`refused`, the others go on", row["event_id"], row["topic"], error)
        self._mark_when_due()
        sent_per_topic: dict[str, int] = {}
        for row, result in outcomes:
            if not isinstance(result, BaseException):
                sent_per_topic[row["topic"]] = sent_per_topic.get(row["topic"], 0) + 1
        for topic, count in sent_per_topic.items():
            self._metrics.events_published.labels(topic=topic).inc(count)
        if failed:
            log.warning("outbox: %d of %d events not published yet: %s", len(failed), len(rows), failed[0][1])
            self._last_scan = 0.0  # back in the table as not published: the next pass looks there
        fatal = next((r for r in results if isinstance(r, FATAL_PRODUCER_ERRORS)), None)
        if fatal is not None:
            await self._renew_producer(fatal)
        return len(done)

    def _mark_when_due(self) -> None:
        """Start marking sent rows in the background once MARK_EVERY_S passed since the last
        marking (or `_mark_limit` piled up); one marking at a time."""
        due = (len(self._sent_unmarked) >= self._mark_limit
               or time.monotonic() - self._last_mark >= MARK_EVERY_S)
        if self._sent_unmarked and due and (self._marking is None or self._marking.done()):
            self._last_mark = time.monotonic()
            self._marking = asyncio.create_task(self._mark_in_background(), name="outbox-marking")

    async def _mark_in_background(self) -> None:
        try:
            await self._mark_sent()
        except Exception:
            log.warning("could not mark sent outbox rows published yet; the next marking tries again",
                        exc_info=True)

    async def _mark_sent(self) -> None:
        """Marks what was sent so far. If that fails the rows stay for the next marking: they are
        still leased to us (or sent again after the lease if this process dies first; consumers
        drop the duplicates)."""
        done, self._sent_unmarked = self._sent_unmarked, []
        if done:
            try:
                await anyio.to_thread.run_sync(self._mark, done, [])
            except BaseException:
                self._sent_unmarked[:0] = done
                raise

    async def flush_marks(self) -> None:
        """Mark everything sent so far as published: waits for a marking under way, then marks
        the rest (stop(), tests). Raises if the rest cannot be marked."""
        if self._marking is not None:
            await asyncio.wait([self._marking])
        self._last_mark = time.monotonic()
        await self._mark_sent()

    def _take_handed(self) -> list[dict[str, Any]]:
        rows = []
        handed = self._handed
        while handed and len(rows) < self._batch_size:
            rows.append(handed.popleft())
        if rows:
            self._last_hand_over = time.monotonic()
        return rows

    async def _renew_producer(self, cause: BaseException) -> None:
        """An idempotent producer stops for good after some errors, e.g. OutOfOrderSequenceNumber
        when the brokers lost in-flight batches in a full outage: every later send fails the same
        way. A new producer gets a new producer id and starts its sequences afresh."""
        log.warning("outbox producer cannot send any more (%r); starting a new one", cause)
        old, self._producer = self._producer, None
        self.connected = False
        if old is not None:
            try:
                await asyncio.wait_for(old.stop(), timeout=10)
            except Exception:
                log.warning("the old outbox producer did not stop cleanly", exc_info=True)
        self._producer = await self._connect()

    def _claim_batch(self) -> list[dict[str, Any]]:
        """Rows found in the table that this relay now holds for LEASE, as column dicts."""
        now = self._clock_now()
        table = OutboxMessage.__table__
        # The IN lets the state index skip the published rows, which are nearly all of the table
        # after a peak; the OR alone made every pass scan all of them.
        claimable = (table.c.state.in_(UNPUBLISHED), or_(table.c.state == "not_published", table.c.lease_until < now))
        # Nearly every scan finds nothing, so it first looks without claiming. The claiming
        # transaction waits for the writer's turn, and the events handed over meanwhile wait
        # with the relay: with the backlog count, 2.4 s of 20 under py-spy at 1,000 orders/s.
        with read_only(self._engine) as conn:
            if conn.execute(select(table.c.id).where(*claimable).limit(1)).first() is None:
                return []
        query = (
            select(table.c.event_id, table.c.topic, table.c.key, table.c.value, table.c.headers_json)
            .where(*claimable)
            .order_by(table.c.id)
            .limit(self._batch_size)
        )
        with transaction(self._engine) as session:
            # PostgreSQL: two relays never claim the same row.
            rows = [row._asdict() for row in session.execute(query.with_for_update(skip_locked=True))]
            if rows:
                session.execute(
                    update(table).where(table.c.event_id.in_([r["event_id"] for r in rows]))
                    .values(state="in_progress", lease_until=now + LEASE, attempts=table.c.attempts + 1)
                )
            return rows

    def _mark(self, done: list[str], failed: list[tuple[str, str]],
              refused: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        """By event id, which hand-overs know: their row ids were assigned by the INSERT.
        `refused` rows leave the relay's way for good (state `refused`, kept with the error)."""
        now = self._clock_now()
        table = OutboxMessage.__table__
        with transaction(self._engine) as session:
            if done:
                session.execute(
                    update(table).where(table.c.event_id.in_(done))
                    .values(state="published", published_at=now, lease_until=None)
                )
            # One statement per distinct error: a broker outage fails a whole pass the same way,
            # and stop() gives back up to the hand-over limit of rows at once.
            for state, rows in (("not_published", failed), ("refused", refused)):
                by_error: dict[str, list[str]] = {}
                for event_id, error in rows:
                    by_error.setdefault(error[:1000], []).append(event_id)
                for error, event_ids in by_error.items():
                    for start in range(0, len(event_ids), 1000):  # IN lists within every driver's limit
                        session.execute(
                            update(table).where(table.c.event_id.in_(event_ids[start:start + 1000]))
                            .values(state=state, lease_until=None, last_error=error)
                        )

    def backlog(self) -> int:
        return self.backlog_and_refused()[0]

    def backlog_and_refused(self) -> tuple[int, int]:
        """Rows waiting to be published, and rows kept as refused."""
        # Read-only, so it does not wait for the writer's turn: the relay's loop awaits it, every
        # two seconds, with handed-over events waiting behind.
        state = col(OutboxMessage.state)
        with read_only(self._engine) as conn:
            counts = dict(conn.execute(select(state, func.count()).select_from(OutboxMessage)
                                       .where(state.in_((*UNPUBLISHED, "refused"))).group_by(state)).all())
        return sum(counts.get(s, 0) for s in UNPUBLISHED), counts.get("refused", 0)

    def refused_rows(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest rows kept as refused, for operators (GET /outbox, the console)."""
        table = OutboxMessage.__table__
        with read_only(self._engine) as conn:
            rows = conn.execute(select(table.c.event_id, table.c.topic, func.length(table.c.value).label("bytes"),
                                       table.c.last_error, table.c.created_at)
                                .where(table.c.state == "refused").order_by(table.c.id.desc()).limit(limit)).all()
        return [{**row._asdict(), "created_at": row.created_at.isoformat()} for row in rows]

    def _clock_now(self) -> datetime:
        # Leases are about real elapsed time, even when the business clock is simulated.
        return datetime.now(UTC)


@lru_cache(maxsize=256)
def _kafka_headers(headers_json: str) -> list[tuple[str, bytes]]:
    # A handful of distinct values (mostly {"ce_type": ...}); aiokafka only reads the list.
    return [(k, v.encode()) for k, v in json.loads(headers_json).items()]


# ---------------------------------------------------------------------------------------------
# Consuming: decode -> dedupe -> handle in a transaction -> outbox; or dead-letter


class _BatchNotClean(Exception):
    """An event failed in an optimistic batch: the batch runs again, a savepoint per event."""


class InvalidEvent(Exception):
    """Raised by a handler: this event can never be applied. It is dead-lettered at once with the
    reason, and the handler's changes are rolled back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class HandlerContext:
    """What a handler gets besides its payload: the open transaction and a way to publish."""

    session: Session
    event: CloudEvent | None
    outbox: Outbox
    clock: Clock
    dead_letter_reason: str | None = None

    def publish(self, spec: TopicSpec, type_: str, payload: Contract, *, key: str,
                subject: str | None = None) -> str:
        return self.outbox.publish(self.session, spec, type_, payload, key=key, subject=subject)

    def dead_letter(self, reason: str) -> None:
        """Commit the handler's changes and also send the original message to the dead-letter
        topic (e.g. an order rejected by validation: `order.rejected` is published, and the bad
        original is kept)."""
        self.dead_letter_reason = reason


Handler = Callable[[HandlerContext, Any], None]
"""A synchronous function run in a worker thread inside one database transaction."""

InvalidHandler = Callable[[HandlerContext, str], None]
"""Called, in the dead letter's transaction, when a message on a topic is dead-lettered; lets a
service tell the sender (e.g. `order.rejected`). `ctx.event` is None when the bytes were not
even an envelope."""


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    type_hint: str | None = None
    """The `ce_type` header our outbox puts on every event it publishes: lets a consumer pass
    over an event type it has no handler for without decoding it."""


KNOWN_TYPES = frozenset(type_ for type_, _version in EVENT_MODELS)


def _skippable_envelope(raw: bytes, type_hint: str) -> bool:
    """A valid envelope (its data parsed, not validated) of the registered type the header names:
    what a record must be before it is skipped on its header's word."""
    try:
        event = CloudEvent.model_validate_json(raw)
    except Exception:
        return False
    return event.type == type_hint and (event.type, event.dataversion) in EVENT_MODELS


def content_digest(event: CloudEvent, payload: Contract) -> str:
    """What an event says, independent of how its JSON was spelled: the inbox keeps it (for
    topics written outside the platform), so the same id arriving again with other content is
    told apart from a re-send."""
    text = f"{event.type}\x1f{event.dataversion}\x1f".encode() + payload.model_dump_json().encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def reused_id_reason(event: CloudEvent) -> str:
    return (f"event id {event.id!r} was already used for a {event.type} with other content; "
            "a new event needs a new id (this one was not applied)")


def undecodable_reason(exc: Exception) -> str:
    if isinstance(exc, UndecodableEvent):
        return exc.reason
    if isinstance(exc, RecursionError):
        return f"not a usable event: JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return f"not a usable event: {exc!r}"[:2000]


def _prepare_batch(session: Session, work: list[tuple[int, Record, CloudEvent, Contract, Handler]]) -> None:
    """A handler may read what a whole batch needs in one statement before its events run one by
    one: a `prepare_batch(session, payloads)` attribute, called once per batch with the payloads
    it is about to get (e.g. orders reads every order's state at once). Only in a batch's first
    pass: in the savepoint pass a rolled-back event could leave what was read out of date."""
    by_prepare: dict[Callable[[Session, list[Contract]], None], list[Contract]] = {}
    for _, _, _, payload, handler in work:
        prepare = getattr(handler, "prepare_batch", None)
        if prepare is not None:
            by_prepare.setdefault(prepare, []).append(payload)
    for prepare, payloads in by_prepare.items():
        prepare(session, payloads)


class EventConsumer:
    """Turns Kafka records into handler calls with the guarantees above."""

    def __init__(self, engine: Engine, outbox: Outbox, clock: Clock, metrics: ServiceMetrics, *,
                 consumer_name: str, retries: int = 3, wake_relay: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._outbox = outbox
        self._clock = clock
        self._metrics = metrics
        self._consumer_name = consumer_name
        # Topics whose events are compared by content on a re-send (TopicSpec.written_outside);
        # the platform's own events are re-sent byte for byte, so their bytes are compared.
        self.compared_by_content: set[str] = set()
        self._retries = retries
        self._wake_relay = wake_relay

    async def process(self, record: Record, handlers: dict[str, Handler],
                      on_invalid: InvalidHandler | None = None) -> str:
        """Returns what happened: handled, duplicate, ignored or dead_lettered."""
        started = time.perf_counter()
        outcome = await self._process(record, handlers, on_invalid)
        self._metrics.handler_seconds.labels(topic=record.topic).observe(time.perf_counter() - started)
        return outcome

    async def process_batch(self, records: list[Record], handlers: dict[str, Handler],
                            on_invalid: InvalidHandler | None = None) -> list[str]:
        """Many records, one database transaction: at peak, one commit per batch instead of one
        per event is what keeps up with the order rate. Each event runs in its own savepoint, so
        one failing event is rolled back alone and then goes the one-by-one way (retries, dead
        letter) after the batch committed. Returns each record's outcome, in order."""
        started = time.perf_counter()
        outcomes: list[str | None] = [None] * len(records)
        one_by_one: list[int] = []
        work: list[tuple[int, Record, CloudEvent, Contract, Handler]] = []
        # Events consumed, by topic and type, counted once per batch (a label lookup per record
        # was 4 us of each); the one-by-one path counts its own.
        consumed: Counter[tuple[str, str]] = Counter()
        for i, record in enumerate(records):
            if len(record.value) > MAX_RECORD_BYTES:
                one_by_one.append(i)  # dead-lettered there, unread
                continue
            try:
                if record.type_hint in KNOWN_TYPES and record.type_hint not in handlers:
                    # A known event this service has no business with (e.g. every order.accepted
                    # on the topic logistics reads for cancellations): skipped without validating
                    # its data, once its envelope is valid and says the same type as the header
                    # (the header is the sender's word; anything else goes the careful way and is
                    # ignored or dead-lettered exactly as it would be without the header).
                    if _skippable_envelope(record.value, record.type_hint):
                        consumed[(record.topic, record.type_hint)] += 1
                        outcomes[i] = "ignored"
                        continue
                    record.type_hint = None
                # Nearly every record: envelope and payload in one pass. Anything that does not
                # decode so (or has no handler here) goes the two-step way, which tells why.
                hint = record.type_hint
                decoded = decode_event(record.value, hint) if hint is None or hint in handlers else None
                if decoded is not None and decoded[0].type in handlers:
                    event, payload = decoded
                    work.append((i, record, event, payload, handlers[event.type]))
                    continue
                event = decode_envelope(record.value)
                handler = handlers.get(event.type)
                if handler is None:
                    if (event.type, event.dataversion) in EVENT_MODELS:
                        consumed[(record.topic, event.type)] += 1
                        outcomes[i] = "ignored"
                    else:
                        one_by_one.append(i)
                    continue
                work.append((i, record, event, decode_payload(event), handler))
            except Exception:  # undecodable, or anything else a record's bytes provoke: the careful way
                one_by_one.append(i)
        conflicts: list[tuple[int, CloudEvent]] = []
        if work:
            types = {i: event.type for i, _, event, _, _ in work}
            events = {i: event for i, _, event, _, _ in work}
            try:
                results = await anyio.to_thread.run_sync(self._handle_batch, work)
            except Exception:
                log.warning("batch of %d failed as a whole; handling its events one by one", len(work), exc_info=True)
                results = {i: "retry" for i, *_ in work}
            for i, outcome in results.items():
                if outcome == "retry":
                    one_by_one.append(i)
                elif outcome == "conflict":
                    conflicts.append((i, events[i]))
                else:
                    outcomes[i] = outcome
                    consumed[(records[i].topic, types[i])] += 1
                    if outcome == "duplicate":
                        self._metrics.duplicates.labels(topic=records[i].topic).inc()
                    elif outcome == "dead_lettered":  # counted after the commit: an attempt may be redone
                        self._metrics.dead_letters.labels(topic=records[i].topic).inc()
        for (topic, type_), count in consumed.items():
            self._metrics.events_consumed.labels(topic=topic, type=type_).inc(count)
        for i, event in conflicts:
            outcomes[i] = await self._dead_letter(records[i], reused_id_reason(event), event=event,
                                                  on_invalid=on_invalid)
        for i in sorted(one_by_one):
            outcomes[i] = await self._process(records[i], handlers, on_invalid)
        self._wake_relay()
        if records:
            per_record = (time.perf_counter() - started) / len(records)
            timer = self._metrics.handler_seconds.labels(topic=records[0].topic)  # a batch is one topic's
            for record in records:
                (timer if record.topic == records[0].topic
                 else self._metrics.handler_seconds.labels(topic=record.topic)).observe(per_record)
        return [o or "ignored" for o in outcomes]

    def _handle_batch(self, work: list[tuple[int, Record, CloudEvent, Contract, Handler]]) -> dict[int, str]:
        """First optimistically, every event straight in the batch's transaction; if any event
        fails, that transaction is rolled back and the batch runs again with a savepoint per
        event, so only the failing ones are set aside. A savepoint per event costs two
        statements and a nested transaction each, and at peak nearly every batch is clean."""
        try:
            return self._run_batch(work, savepoints=False)
        except _BatchNotClean as exc:
            log.info("batch of %d not clean (%s); again with a savepoint per event", len(work), exc)
            return self._run_batch(work, savepoints=True)

    def _run_batch(self, work: list[tuple[int, Record, CloudEvent, Contract, Handler]], *,
                   savepoints: bool) -> dict[int, str]:
        results: dict[int, str] = {}
        processed: list[dict[str, Any]] = []
        # One time for the batch's inbox rows (they commit together): one object, which the bind
        # converts once for SQLite (shared/fastsql.py keeps the last conversions), not per row.
        processed_at = self._clock.now()
        with transaction(self._engine) as session:
            ids = [event.id for _, _, event, _, _ in work]
            seen: dict[str, str | None] = {row.event_id: row.digest for row in _SEEN_IN_INBOX.execute(
                session, {"consumer": self._consumer_name, "ids": ids}).all()}
            if not savepoints:
                _prepare_batch(session, [item for item in work if item[2].id not in seen])
            for i, record, event, payload, handler in work:
                digest = self._digest(record, event, payload)
                if event.id in seen:
                    results[i] = "duplicate" if seen[event.id] in (None, digest) else "conflict"
                    continue
                current_event_id.set(event.id)
                current_subject.set(event.subject)
                try:
                    with session.begin_nested() if savepoints else nullcontext():
                        ctx = HandlerContext(session=session, event=event, outbox=self._outbox, clock=self._clock)
                        handler(ctx, payload)
                        if ctx.dead_letter_reason is not None:
                            self._add_dead_letter(session, record, ctx.dead_letter_reason, count=False)
                        session.flush()  # integrity errors surface here, inside the savepoint
                    results[i] = "dead_lettered" if ctx.dead_letter_reason is not None else "handled"
                    seen[event.id] = digest
                    processed.append({"consumer": self._consumer_name, "event_id": event.id,
                                      "topic": record.topic, "processed_at": processed_at, "digest": digest})
                except Exception as exc:
                    if not savepoints:
                        raise _BatchNotClean(f"event {event.id}: {exc!r}") from exc
                    # Rolled back to the savepoint; the one-by-one path retries or dead-letters it.
                    log.info("event %s set aside from its batch: %r", event.id, exc)
                    results[i] = "retry"
            if processed:
                # One multi-row INSERT; another instance that recorded one of these ids first
                # fails the whole batch, which then goes the one-by-one way (duplicates there).
                _ADD_INBOX_ENTRIES.executemany(session, processed)
        return results

    async def _process(self, record: Record, handlers: dict[str, Handler],
                       on_invalid: InvalidHandler | None) -> str:
        if len(record.value) > MAX_RECORD_BYTES:
            return await self._dead_letter(
                record, f"record of {len(record.value):,} bytes is over the {MAX_RECORD_BYTES:,}-byte limit",
                event=None, on_invalid=on_invalid)
        try:
            event = decode_envelope(record.value)
        except Exception as exc:
            return await self._dead_letter(record, undecodable_reason(exc), event=None, on_invalid=on_invalid)
        self._metrics.events_consumed.labels(topic=record.topic, type=event.type).inc()
        current_event_id.set(event.id)
        current_subject.set(event.subject)
        handler = handlers.get(event.type)
        if handler is None:
            if (event.type, event.dataversion) in EVENT_MODELS:
                return "ignored"  # a known event this service has no business with
            return await self._dead_letter(
                record, f"unknown event type {event.type!r} version {event.dataversion}", event=event, on_invalid=on_invalid)
        try:
            payload = decode_payload(event)
        except Exception as exc:
            return await self._dead_letter(record, undecodable_reason(exc), event=event, on_invalid=on_invalid)

        attempt = 0
        while True:
            try:
                outcome = await anyio.to_thread.run_sync(self._handle, record, event, payload, handler)
                break
            except InvalidEvent as exc:
                return await self._dead_letter(record, exc.reason, event=event, on_invalid=on_invalid)
            except Exception as exc:
                attempt += 1
                if attempt > self._retries:
                    log.exception("handler for %s %s failed %d times; dead-lettering", event.type, event.id, attempt)
                    return await self._dead_letter(
                        record, f"handler failed after {attempt} attempts: {exc!r}", event=event, on_invalid=on_invalid)
                log.warning("handler for %s %s failed (%r); retry %d", event.type, event.id, exc, attempt)
                await asyncio.sleep(min(0.1 * 2 ** attempt, 2.0))
        if outcome == "duplicate":
            self._metrics.duplicates.labels(topic=record.topic).inc()
        self._wake_relay()
        return outcome

    def _digest(self, record: Record, event: CloudEvent, payload: Contract) -> str:
        if record.topic in self.compared_by_content:
            return content_digest(event, payload)
        # A sixth of the cost: the record's bytes (hashed, not re-serialised).
        return hashlib.blake2b(record.value, digest_size=16).hexdigest()

    def _handle(self, record: Record, event: CloudEvent, payload: Contract, handler: Handler) -> str:
        current_event_id.set(event.id)  # worker threads do not inherit the loop's context
        current_subject.set(event.subject)
        try:
            digest = self._digest(record, event, payload)
            with transaction(self._engine) as session:
                known = session.get(InboxEntry, (self._consumer_name, event.id))
                if known is not None:
                    if known.digest in (None, digest):
                        return "duplicate"
                    raise InvalidEvent(reused_id_reason(event))
                ctx = HandlerContext(session=session, event=event, outbox=self._outbox, clock=self._clock)
                handler(ctx, payload)
                session.add(InboxEntry(consumer=self._consumer_name, event_id=event.id, topic=record.topic,
                                       processed_at=self._clock.now(), digest=digest))
                if ctx.dead_letter_reason is not None:
                    self._add_dead_letter(session, record, ctx.dead_letter_reason)
                    return "dead_lettered"
                return "handled"
        except IntegrityError:
            # Another instance recorded the same event id first: it is a duplicate. (Any other
            # integrity problem shows up again on the retry and is dead-lettered there.)
            with Session(self._engine) as session:
                known = session.get(InboxEntry, (self._consumer_name, event.id))
                if known is not None:
                    if known.digest in (None, digest):
                        return "duplicate"
                    raise InvalidEvent(reused_id_reason(event)) from None
            raise

    async def _dead_letter(self, record: Record, reason: str, *, event: CloudEvent | None,
                           on_invalid: InvalidHandler | None) -> str:
        """Written through the outbox, so the dead letter survives a crash. Deduped per source
        offset, so a redelivered bad message is dead-lettered once."""
        inbox_id = f"dlq:{record.topic}:{record.partition}:{record.offset}"

        def write() -> bool:
            try:
                with transaction(self._engine) as session:
                    if session.get(InboxEntry, (self._consumer_name, inbox_id)) is not None:
                        return False
                    self._add_dead_letter(session, record, reason)
                    if on_invalid is not None:
                        try:
                            # In a savepoint: if telling the sender fails, the dead letter is still
                            # written and the consumer moves on instead of retrying it forever.
                            with session.begin_nested():
                                on_invalid(HandlerContext(session=session, event=event, outbox=self._outbox,
                                                          clock=self._clock), reason)
                        except Exception:
                            log.exception("on_invalid failed for %s[%d]@%d; dead-lettering without it",
                                          record.topic, record.partition, record.offset)
                    session.add(InboxEntry(consumer=self._consumer_name, event_id=inbox_id,
                                           topic=record.topic, processed_at=self._clock.now()))
                    return True
            except IntegrityError:
                return False

        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        await anyio.to_thread.run_sync(write)
        self._wake_relay()
        return "dead_lettered"

    def _add_dead_letter(self, session: Session, record: Record, reason: str, *, count: bool = True) -> None:
        if count:
            self._metrics.dead_letters.labels(topic=record.topic).inc()
        headers = dead_letter_headers(reason=reason, topic=record.topic, partition=record.partition,
                                      offset=record.offset, consumer=self._consumer_name, failed_at=self._clock.now())
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        if key is not None and (key.encode() != record.key or "\x00" in key):
            # Kept exactly in a header; the record key itself must be text a database stores.
            headers["dlq.source.key_hex"] = record.key.hex()
            key = key.replace("\x00", "\ufffd")
        self._outbox.add_raw(session, dlq_name(record.topic), key=key, value=record.value, headers=headers)

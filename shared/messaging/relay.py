"""The outbox relay: sends the outbox's rows to Kafka with an idempotent producer and marks them
published (how and why: docs/architecture.md, "Messaging guarantees")."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (InvalidProducerEpoch, InvalidTopicError, MessageSizeTooLargeError, OutOfOrderSequenceNumber,
                             ProducerFenced, RecordListTooLargeError, RecordTooLargeError, UnknownProducerId)
from sqlalchemy import Engine, or_, update
from sqlmodel import select

from shared.clock import Clock
from shared.db import read_only, transaction
from shared.messaging.tables import (LEASE, MARK_EVERY_S, MAX_BATCH_BYTES, UNPUBLISHED, OutboxMessage, outbox_counts,
                                     refused_rows, take_within_lease)
from shared.metrics import ServiceMetrics
from shared.threads import run_in_background

log = logging.getLogger(__name__)


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
                await run_in_background(self._mark, [], [(event_id, "relay stopped") for event_id in waiting])
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
                backlog, refused = await run_in_background(self.backlog_and_refused)
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
            rows = await run_in_background(self._claim_batch)
            if len(rows) == self._batch_size:
                self._last_scan = 0.0  # more where these came from: look again on the next pass
        if rows and self._sent_unmarked:  # acknowledged while their lease ran out (a long wait on the broker)
            acknowledged = set(self._sent_unmarked)
            rows = [row for row in rows if row["event_id"] not in acknowledged]
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
            await run_in_background(self._mark, [], failed, [(r["event_id"], e) for r, e in refused])
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
        done = self._sent_unmarked[:]  # kept there until marked, so that no scan sends them again
        if done:
            await run_in_background(self._mark, done, [])
            del self._sent_unmarked[:len(done)]  # sends since then were appended after them

    async def flush_marks(self) -> None:
        """Mark everything sent so far as published: waits for a marking under way, then marks
        the rest (stop(), tests). Raises if the rest cannot be marked."""
        if self._marking is not None:
            await asyncio.wait([self._marking])
        self._last_mark = time.monotonic()
        await self._mark_sent()

    def _take_handed(self) -> list[dict[str, Any]]:
        rows, expired = take_within_lease(self._handed, self._batch_size, self._clock_now())
        if expired:
            self._last_scan = 0.0  # the table's again: this pass's scan claims them afresh
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
        return outbox_counts(self._engine)

    def refused_rows(self, limit: int = 20) -> list[dict[str, Any]]:
        return refused_rows(self._engine, limit)

    def _clock_now(self) -> datetime:
        # Leases are about real elapsed time, even when the business clock is simulated.
        return datetime.now(UTC)


@lru_cache(maxsize=256)
def _kafka_headers(headers_json: str) -> list[tuple[str, bytes]]:
    # A handful of distinct values (mostly {"ce_type": ...}); aiokafka only reads the list.
    return [(k, v.encode()) for k, v in json.loads(headers_json).items()]

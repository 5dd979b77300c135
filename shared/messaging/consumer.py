"""The consumer: Kafka records -> decode -> dedupe (inbox) -> handler in a transaction -> outbox,
a batch of records per transaction; or the dead-letter topic (how and why: docs/architecture.md,
"Messaging guarantees")."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from contextlib import nullcontext
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from shared import tracing
from shared.clock import Clock
from shared.db import transaction
from shared.envelope import CloudEvent, Contract, decode_envelope
from shared.event_registry import EVENT_MODELS, KNOWN_TYPES, decode_event, decode_payload
from shared.limits import MAX_RECORD_BYTES
from shared.logs import current_event_id, current_subject
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.outbox import Outbox
from shared.messaging.records import (Handler, InvalidEvent, InvalidHandler, Record, content_digest, reused_id_reason,
                                      undecodable_reason)
from shared.messaging.tables import ADD_INBOX_ENTRIES, SEEN_IN_INBOX, InboxEntry
from shared.metrics import ServiceMetrics
from shared.threads import run_in_background
from shared.unit_of_work import BatchScope, Prefetch, UnitOfWork

log = logging.getLogger(__name__)

class _BatchNotClean(Exception):
    """An event failed in an optimistic batch: the batch runs again, a savepoint per event."""


def _skippable_envelope(raw: bytes, type_hint: str) -> bool:
    """A valid envelope (its data parsed, not validated) of the registered type the header names:
    what a record must be before it is skipped on its header's word."""
    try:
        event = CloudEvent.model_validate_json(raw)
    except Exception:
        return False
    return event.type == type_hint and (event.type, event.dataversion) in EVENT_MODELS


def _prefetch_batch(session: Session, batch: BatchScope,
                    work: list[tuple[int, Record, CloudEvent, Contract, Handler]]) -> None:
    """The reads a batch's handlers declared (`EventHandler.prefetch`), once each for all the
    payloads they are about to get (e.g. orders reads every order's state at once). Only in a
    batch's first pass: in the savepoint pass a rolled-back event could leave a read out of date."""
    by_prefetch: dict[Prefetch[Any, Any], list[Contract]] = {}
    for _, _, _, payload, handler in work:
        prefetch = getattr(handler, "prefetch", None)
        if prefetch is not None:
            by_prefetch.setdefault(prefetch, []).append(payload)
    for prefetch, payloads in by_prefetch.items():
        batch.load(prefetch, session, payloads)


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
        self._dead_letters = DeadLetters(engine, outbox, clock, metrics, consumer_name, wake_relay)
        self._dead_letter = self._dead_letters.write

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
                results = await run_in_background(self._handle_batch, work)
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
            seen: dict[str, str | None] = {row.event_id: row.digest for row in SEEN_IN_INBOX.execute(
                session, {"consumer": self._consumer_name, "ids": ids}).all()}
            batch = BatchScope()
            if not savepoints:
                _prefetch_batch(session, batch, [item for item in work if item[2].id not in seen])
            for i, record, event, payload, handler in work:
                digest = self._digest(record, event, payload)
                if event.id in seen:
                    results[i] = "duplicate" if seen[event.id] in (None, digest) else "conflict"
                    continue
                current_event_id.set(event.id)
                current_subject.set(event.subject)
                try:
                    with (session.begin_nested() if savepoints else nullcontext(),
                          tracing.consuming(record.topic, record.trace, event.id, event.type)):
                        uow = UnitOfWork(session, self._outbox, self._clock, event=event, topic=record.topic,
                                         batch=batch)
                        handler(uow, payload)
                        if uow.dead_letter_reason is not None:
                            self._dead_letters.add(session, record, uow.dead_letter_reason, count=False)
                        session.flush()  # integrity errors surface here, inside the savepoint
                    results[i] = "dead_lettered" if uow.dead_letter_reason is not None else "handled"
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
                ADD_INBOX_ENTRIES.executemany(session, processed)
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
                outcome = await run_in_background(self._handle, record, event, payload, handler)
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
                uow = UnitOfWork(session, self._outbox, self._clock, event=event, topic=record.topic)
                with tracing.consuming(record.topic, record.trace, event.id, event.type):
                    handler(uow, payload)
                session.add(InboxEntry(consumer=self._consumer_name, event_id=event.id, topic=record.topic,
                                       processed_at=self._clock.now(), digest=digest))
                if uow.dead_letter_reason is not None:
                    self._dead_letters.add(session, record, uow.dead_letter_reason)
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

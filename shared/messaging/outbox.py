"""Writing to the outbox: events join the caller's database transaction as rows, and go to the
broker only once it commits (the relay, relay.py, sends them).

The session listeners below are attached to `PlatformSession`, the session class the project's
transactions use (shared/db.py), not to every SQLAlchemy session in the process.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlmodel import Session

from shared import tracing
from shared.clock import Clock
from shared.db import PlatformSession
from shared.deferred import defer_insert, take_written_rows
from shared.envelope import STRUCTURED_CONTENT_TYPE, Contract
from shared.event_registry import encode_new_event
from shared.messaging.tables import OutboxMessage
from shared.topics import TopicSpec

if TYPE_CHECKING:
    from shared.messaging.relay import OutboxRelay


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
        headers_json = _event_headers_json(type_)
        if tracing.ENABLED:
            # The context of the span this event is published in (an HTTP request's, a handled
            # record's): the relay sends the headers as they are, the consumer continues it.
            trace_headers = tracing.current_headers()
            if trace_headers:  # spliced into the cached JSON object: no parse per event
                headers_json = headers_json[:-1] + "".join(
                    f", {json.dumps(k)}: {json.dumps(v)}" for k, v in trace_headers.items()) + "}"
        self._add(session, self.topic_prefix + spec.name, key, value, event_id, headers_json)
        return event_id

    def add_raw(self, session: Session, topic: str, *, key: str | None, value: bytes,
                headers: dict[str, str] | None = None, event_id: str | None = None) -> None:
        """A record as given (a dead letter's copy of what came in, with its own headers)."""
        self._add(session, topic, key, value, event_id, json.dumps(headers or {}))

    def _add(self, session: Session, topic: str, key: str | None, value: bytes, event_id: str | None,
             headers_json: str) -> None:
        # One created time and one lease end for all of a transaction's rows (they commit
        # together): two objects, converted for the database once each instead of per row.
        times = session.info.get(_OUTBOX_TIMES)
        if times is None:
            times = session.info[_OUTBOX_TIMES] = (self.clock.now(), self.relay.lease_end() if self.relay else None)
        row = {
            "event_id": event_id or str(uuid.uuid4()), "topic": topic, "key": key, "value": value,
            "headers_json": headers_json, "state": "not_published", "attempts": 0,
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


@lru_cache(maxsize=256)
def _event_headers_json(type_: str) -> str:
    # Structured mode, as the CloudEvents Kafka binding marks it; `ce_type` besides lets a
    # consumer pass over a type it does not handle without reading the value.
    return json.dumps({"ce_type": type_, "content-type": STRUCTURED_CONTENT_TYPE})


_HAND_OVER_TO = "outbox.hand_over_to"  # session.info: the relay that gets this transaction's rows
_OUTBOX_TIMES = "outbox.times"  # session.info: (created_at, lease end) of this transaction's rows


@sa_event.listens_for(PlatformSession, "after_commit")
def _hand_committed_rows_to_relay(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released (SQLAlchemy calls this for those too): rows come at the end
    relay = session.info.pop(_HAND_OVER_TO, None)
    if relay is not None:
        # Only what this commit wrote: a rolled-back transaction or savepoint wrote nothing.
        relay.hand_over([r for r in take_written_rows(session, OutboxMessage.__table__)
                         if r["state"] == "in_progress"])


@sa_event.listens_for(PlatformSession, "after_transaction_end")
def _forget_outbox_times(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the transaction itself ended, not a savepoint: the next one takes its own
        session.info.pop(_OUTBOX_TIMES, None)

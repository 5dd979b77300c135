"""Dead letters: a record no handler can apply goes to `<topic>.dlq` with its original bytes and
the reason, through the outbox (so it is not lost either), once per source offset."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from shared.clock import Clock
from shared.db import transaction
from shared.envelope import CloudEvent
from shared.messaging.outbox import Outbox
from shared.messaging.records import InvalidHandler, Record
from shared.messaging.tables import InboxEntry
from shared.metrics import ServiceMetrics
from shared.threads import run_in_background
from shared.topics import dlq_name
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


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


@dataclass
class DeadLetters:
    """Writes one consumer's dead letters."""

    engine: Engine
    outbox: Outbox
    clock: Clock
    metrics: ServiceMetrics
    consumer_name: str
    wake_relay: Callable[[], None]

    async def write(self, record: Record, reason: str, *, event: CloudEvent | None,
                    on_invalid: InvalidHandler | None) -> str:
        """Written through the outbox, so the dead letter survives a crash. Deduped per source
        offset, so a redelivered bad message is dead-lettered once."""
        inbox_id = f"dlq:{record.topic}:{record.partition}:{record.offset}"

        def write() -> bool:
            try:
                with transaction(self.engine) as session:
                    if session.get(InboxEntry, (self.consumer_name, inbox_id)) is not None:
                        return False
                    self.add(session, record, reason)
                    if on_invalid is not None:
                        try:
                            # In a savepoint: if telling the sender fails, the dead letter is still
                            # written and the consumer moves on instead of retrying it forever.
                            with session.begin_nested():
                                on_invalid(UnitOfWork(session, self.outbox, self.clock, event=event, topic=record.topic),
                                       reason)
                        except Exception:
                            log.exception("on_invalid failed for %s[%d]@%d; dead-lettering without it",
                                          record.topic, record.partition, record.offset)
                    session.add(InboxEntry(consumer=self.consumer_name, event_id=inbox_id,
                                           topic=record.topic, processed_at=self.clock.now()))
                    return True
            except IntegrityError:
                return False

        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        await run_in_background(write)
        self.wake_relay()
        return "dead_lettered"

    def add(self, session: Session, record: Record, reason: str, *, count: bool = True) -> None:
        if count:
            self.metrics.dead_letters.labels(topic=record.topic).inc()
        headers = dead_letter_headers(reason=reason, topic=record.topic, partition=record.partition,
                                      offset=record.offset, consumer=self.consumer_name, failed_at=self.clock.now())
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        if key is not None and (key.encode() != record.key or "\x00" in key):
            # Kept exactly in a header; the record key itself must be text a database stores.
            headers["dlq.source.key_hex"] = record.key.hex()
            key = key.replace("\x00", "\ufffd")
        self.outbox.add_raw(session, dlq_name(record.topic), key=key, value=record.value, headers=headers)

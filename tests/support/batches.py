"""Feeding a service's own consumer code with records, no broker: for tests that compare a
consumer batch with the same events one at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from shared.clock import SettableClock
from shared.events import Contract, encode
from shared.event_registry import new_event
from shared.messaging import EventConsumer, Handler, Outbox, Record
from shared.metrics import ServiceMetrics

T0 = datetime(2026, 11, 11, tzinfo=UTC)


def consumer_on(engine, service: str) -> EventConsumer:
    clock = SettableClock(T0 + timedelta(minutes=5))
    return EventConsumer(engine, Outbox(source=service, topic_prefix="", clock=clock), clock,
                         ServiceMetrics(f"{service}-batches"), consumer_name=service)


def record_of(topic: str, type_: str, payload: Contract, *, key: str, event_id: str, offset: int) -> Record:
    at = T0 + timedelta(minutes=offset)
    value = encode(new_event(type_, payload, source="tests", subject=key, time=at, event_id=event_id))
    return Record(topic=topic, partition=0, offset=offset, key=key.encode(), value=value)


def one_by_one(consumer: EventConsumer, records: list[Record], handlers: dict[str, Handler]) -> list[str]:
    return [asyncio.run(consumer.process(r, handlers)) for r in records]


def as_one_batch(consumer: EventConsumer, records: list[Record], handlers: dict[str, Handler]) -> list[str]:
    return asyncio.run(consumer.process_batch(records, handlers))

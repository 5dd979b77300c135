"""After a full broker outage an idempotent producer can fail with OutOfOrderSequenceNumber (the
brokers lost batches it had numbered) and from then on every send fails the same way: aiokafka's
sender task has stopped. The outbox relay must replace the producer, or the service would keep
its events in the outbox forever. Seen in test_broker_loss's full outage, about one run in three;
reproduced here deterministically with a producer stand-in, no broker needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from shared.clock import make_clock
from shared.db import create_tables, make_engine, transaction
from shared.messaging import MESSAGING_TABLES, Outbox, OutboxRelay
from shared.metrics import ServiceMetrics
from tests.faults.support import say

pytestmark = pytest.mark.faults


class BrokenAfterOutage:
    """Like a producer whose sender died: every send fails with the same error."""

    def __init__(self) -> None:
        self.stopped = False

    async def send(self, topic, value=None, key=None, headers=None):  # type: ignore[no-untyped-def]
        future = asyncio.get_running_loop().create_future()
        future.set_exception(OutOfOrderSequenceNumber())
        return future

    async def stop(self) -> None:
        self.stopped = True


class Healthy:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic, value=None, key=None, headers=None):  # type: ignore[no-untyped-def]
        self.sent.append(value)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def stop(self) -> None:
        pass


async def test_relay_replaces_a_producer_that_can_no_longer_send(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'relay.sqlite'}")
    create_tables(engine, MESSAGING_TABLES)
    clock = make_clock("system")
    broken, healthy = BrokenAfterOutage(), Healthy()
    producers = [broken, healthy]

    class Relay(OutboxRelay):
        async def _connect(self):  # type: ignore[no-untyped-def]
            self.connected = True
            return producers.pop(0)

    relay = Relay(engine, "unused:9092", clock, ServiceMetrics("test"), client_id="test-relay")
    outbox = Outbox(source="test", topic_prefix="", clock=clock)
    with transaction(engine) as session:
        for n in range(5):
            outbox.add_raw(session, "t.events", key=f"k{n}", value=f"event {n}".encode())
    relay._producer = await relay._connect()

    assert await relay.publish_pending() == 0  # every send failed: rows back to not_published
    assert broken.stopped and relay._producer is healthy
    assert await relay.publish_pending() == 5
    await relay.flush_marks()
    assert relay.backlog() == 0 and len(healthy.sent) == 5
    say("relay", "OutOfOrderSequenceNumber on 5 of 5 sends: the relay replaced its producer and the next "
                 "pass published all 5 rows; outbox backlog 0")

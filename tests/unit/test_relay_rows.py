"""The relay sends each row on its own terms (issue 27, finding 3), with a producer stand-in:
a row refused for good is kept aside as `refused`; a topic whose send fails for a reason of the
moment is not tried again in the same pass (each try could wait for metadata again); the other
rows go out. The real broker's refusal is in tests/integration/test_no_silent_loss.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from sqlmodel import Session, select

from shared.clock import make_clock
from shared.db import create_tables, make_engine, transaction
from shared.messaging import MESSAGING_TABLES, Outbox, OutboxMessage, OutboxRelay
from shared.metrics import ServiceMetrics


class Picky:
    """Refuses values over 10 bytes at once, cannot reach topic `t.gone`, acknowledges the rest."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.tries: dict[str, int] = {}

    async def send(self, topic, value=None, key=None, headers=None):  # type: ignore[no-untyped-def]
        self.tries[topic] = self.tries.get(topic, 0) + 1
        if len(value) > 10:
            raise MessageSizeTooLargeError("too large")
        if topic == "t.gone":
            raise KafkaTimeoutError("no metadata for t.gone")
        self.sent.append(value)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def stop(self) -> None:
        pass


async def test_each_row_is_sent_refused_or_kept_for_later_on_its_own(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'relay.sqlite'}")
    create_tables(engine, MESSAGING_TABLES)
    clock = make_clock("system")
    outbox = Outbox(source="test", topic_prefix="", clock=clock)
    rows = [("t.ok", b"a"), ("t.ok", b"x" * 11), ("t.gone", b"b"), ("t.ok", b"c"), ("t.gone", b"d"), ("t.ok", b"e")]
    with transaction(engine) as session:
        for n, (topic, value) in enumerate(rows):
            outbox.add_raw(session, topic, key=f"k{n}", value=value, event_id=f"E-{n}")
    metrics = ServiceMetrics("test")
    relay = OutboxRelay(engine, "unused:9092", clock, metrics, client_id="test-relay")
    producer = relay._producer = Picky()

    assert await relay.publish_pending() == 3
    await relay.flush_marks()
    assert producer.sent == [b"a", b"c", b"e"]
    assert producer.tries == {"t.ok": 4, "t.gone": 1}  # t.gone tried once in the pass
    with Session(engine) as session:
        states = {r.event_id: (r.state, r.last_error or "") for r in session.exec(select(OutboxMessage))}
    assert states["E-1"][0] == "refused" and "MessageSizeTooLarge" in states["E-1"][1]
    assert states["E-2"][0] == states["E-4"][0] == "not_published"
    assert all("KafkaTimeoutError" in states[e][1] for e in ("E-2", "E-4"))
    assert {states[e][0] for e in ("E-0", "E-3", "E-5")} == {"published"}
    assert relay.backlog_and_refused() == (2, 1)
    assert metrics.outbox_refused.labels(topic="t.ok")._value.get() == 1

    producer.sent.clear()
    assert await relay.publish_pending() == 0  # t.gone still away; the refused row is not tried again
    assert producer.tries == {"t.ok": 4, "t.gone": 2}

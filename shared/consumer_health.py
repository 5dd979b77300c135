"""What keeps a consumer honest about its input and its progress.

- `parse_batch_with_binary_headers`: Kafka header values are bytes, and any of them may be binary
  (a tracing header, a careless sender). FastStream's batch parser decodes every one as UTF-8,
  and a single value that is not (or a null one) made it fail the whole batch before the
  service's code saw a record, with the offsets then committed past all of them (issue 27,
  finding 1). Such values are given to it as empty bytes instead; the record itself goes on to
  be decoded from its value, where a `ce_type` header is only ever a hint.
- `StallWatch`: liveness that tells the truth. A partition with records waiting (lag) whose
  committed offset has not moved for `stall_after_s` marks the service not live (`/healthz` 503
  and the `peak_consumer_stalled` metric name the topic and partition), so an orchestrator restarts
  it rather than leave it stuck in silence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared.periodic import BackgroundTask
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)


def _is_text(value: bytes | None) -> bool:
    if value is None:
        return False
    try:
        value.decode()
        return True
    except UnicodeDecodeError:
        return False


def with_text_headers(record: Any) -> Any:
    """The record itself when every header value is UTF-8 text (nearly always), else a copy whose
    other values are empty bytes."""
    headers = record.headers or ()
    if all(_is_text(value) for _name, value in headers):
        return record
    return dataclasses.replace(record, headers=[(name, value if _is_text(value) else b"") for name, value in headers])


async def parse_batch_with_binary_headers(records: tuple[Any, ...],
                                          default_parser: Callable[[tuple[Any, ...]], Awaitable[Any]]) -> Any:
    """A FastStream custom parser (`parser=`) for batch subscribers. It also forgets a `reply_to`
    header: FastStream would publish the handler's result to whatever topic the first record of
    a batch names there (and a name that is no topic stalled the consumer), but every event the
    platform sends goes through an outbox, never as a reply."""
    message = await default_parser(tuple(with_text_headers(record) for record in records))
    message.reply_to = ""
    return message


@dataclasses.dataclass
class _Progress:
    committed: int | None = None
    since: float = 0.0


class StallWatch(BackgroundTask):
    """Checks each started subscriber's partitions every `interval_s`."""

    name = "stall-watch"

    def __init__(self, subscribers: Callable[[], list[Any]], metrics: ServiceMetrics, *,
                 stall_after_s: float, interval_s: float = 5.0) -> None:
        self._subscribers = subscribers
        self._metrics = metrics
        self.stall_after_s = stall_after_s
        self._interval = interval_s
        self._progress: dict[tuple[str, int], _Progress] = {}
        self.stalled: dict[str, float] = {}  # "topic[partition]" -> seconds without progress

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not check the consumers' progress", exc_info=True)
            await asyncio.sleep(self._interval)

    async def check(self) -> None:
        now = time.monotonic()
        stalled: dict[str, float] = {}
        for subscriber in self._subscribers():
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                continue
            for tp in sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition)):
                highwater = consumer.highwater(tp)
                try:
                    committed = await asyncio.wait_for(consumer.committed(tp), timeout=5)
                except Exception:
                    continue  # the broker is away: that is readiness's business, not a stall
                progress = self._progress.setdefault((tp.topic, tp.partition), _Progress(committed, now))
                if committed != progress.committed:
                    progress.committed, progress.since = committed, now
                lagging = highwater is not None and highwater > (committed or 0)
                waited = now - progress.since
                if not lagging:
                    progress.since = now
                is_stalled = lagging and waited >= self.stall_after_s
                self._metrics.consumer_stalled.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    1 if is_stalled else 0)
                if is_stalled:
                    stalled[f"{tp.topic}[{tp.partition}]"] = round(waited, 1)
        if stalled and stalled.keys() != self.stalled.keys():
            log.error("consumers stalled (lag and no committed progress for %.0f s or more): %s",
                      self.stall_after_s, stalled)
        self.stalled = stalled


def poll_without_sleeping(subscriber: Any, *, wait_ms: int, max_records: int) -> None:
    """Make a FastStream batch subscriber wait in one long poll instead of short polls and naps.

    FastStream's batch poll waits `batch_timeout_ms` and, when nothing came, sleeps that long
    again. Short (5 ms), that woke each idle consumer 100 times a second, and an idle service
    (four consumers) used 7.4% of a core, most of it in the event loop's timers; it uses 2.8%
    with this. Long, a record arriving during the nap would wait for it. aiokafka's `getmany`
    already returns as soon as a fetch brings records, so one long wait costs no latency;
    stopping the subscriber cancels it."""
    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        batches = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        return tuple(record for records in batches.values() for record in records)

    subscriber.get_msg = get_msg  # looked up on the instance by FastStream's consume loop

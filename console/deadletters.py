"""Dead-letter counts per topic for the admin overview, read from Kafka's `<topic>.dlq` topics.

Why the topics and not each service's `peak_dead_letters_total` metric: the metric is per process
(it restarts at zero and each replica counts only its own), while the .dlq topics hold every
dead letter kept, whichever instance wrote it. The count per topic is end offset minus start
offset summed over partitions: what is there now (replayed letters stay until retention, as
`python -m tools.dlq list` shows them).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, dlq_name


@dataclass(frozen=True)
class DeadLetterCount:
    topic: str
    dlq_topic: str
    count: int | None  # None: the .dlq topic does not exist (nothing dead-lettered yet)


def _client_kwargs(kafka: KafkaSettings) -> dict:
    try:
        from shared.kafka_security import kafka_python_kwargs
    except ImportError:  # older tree without Kafka security settings
        return {}
    return kafka_python_kwargs(kafka)


class DeadLetterCounter:
    """The counts for the console's pages: one client kept between calls (a new one per page
    cost a connection, a metadata request and two offset requests per topic), all partitions'
    offsets asked in one request each, and the answer kept `keep_s` seconds so pages polling
    together (the war room, several screens) ask Kafka once. Thread-safe; blocking."""

    def __init__(self, kafka: KafkaSettings, timeout_s: float, keep_s: float = 2.0) -> None:
        self.kafka, self.timeout_ms, self.keep_s = kafka, int(timeout_s * 1000), keep_s
        self._lock = threading.Lock()
        self._consumer = None
        self._kept: tuple[float, list[DeadLetterCount]] | None = None

    def counts(self) -> list[DeadLetterCount]:
        with self._lock:
            if self._kept is not None and time.monotonic() - self._kept[0] < self.keep_s:
                return self._kept[1]
            try:
                counts = self._read(self._client())
            except Exception:
                self._close_client()  # a broken connection is not reused; the next call starts afresh
                raise
            self._kept = (time.monotonic(), counts)
            return counts

    def _client(self):  # type: ignore[no-untyped-def]
        if self._consumer is None:
            from kafka import KafkaConsumer

            self._consumer = KafkaConsumer(
                bootstrap_servers=self.kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
                bootstrap_timeout_ms=self.timeout_ms, client_id="console-dlq-counts", **_client_kwargs(self.kafka))
        return self._consumer

    def _read(self, consumer) -> list[DeadLetterCount]:  # type: ignore[no-untyped-def]
        from kafka import TopicPartition

        existing = consumer.topics()
        partitions: dict[str, list[TopicPartition]] = {}
        for spec in ALL_TOPICS:
            name = self.kafka.topic(dlq_name(spec.name))
            if name in existing:
                partitions[name] = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        every = [tp for tps in partitions.values() for tp in tps]
        end = consumer.end_offsets(every, timeout_ms=self.timeout_ms) if every else {}
        start = consumer.beginning_offsets(every, timeout_ms=self.timeout_ms) if every else {}
        counts = []
        for spec in ALL_TOPICS:
            name = self.kafka.topic(dlq_name(spec.name))
            held = partitions.get(name)
            counts.append(DeadLetterCount(spec.name, name,
                                          None if held is None else sum(end[tp] - start[tp] for tp in held)))
        return counts

    def _close_client(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                consumer.close()
            except Exception:  # closing a broken client: nothing more to do
                pass

    def close(self, wait_s: float = 1.0) -> None:
        """Closes the client, unless a read still holds it after `wait_s` (a broker that does not
        answer at shutdown): the process is ending, and its sockets with it."""
        if self._lock.acquire(timeout=wait_s):
            try:
                self._close_client()
            finally:
                self._lock.release()

"""Dead-letter counts per topic for the admin overview, read from Kafka's `<topic>.dlq` topics.

Why the topics and not each service's `peak_dead_letters_total` metric: the metric is per process
(it restarts at zero and each replica counts only its own), while the .dlq topics hold every
dead letter kept, whichever instance wrote it. The count per topic is end offset minus start
offset summed over partitions: what is there now (replayed letters stay until retention, as
`python -m tools.dlq list` shows them).
"""

from __future__ import annotations

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


def dead_letter_counts(kafka: KafkaSettings, timeout_s: float) -> list[DeadLetterCount]:
    """Blocking (kafka-python): call it in a worker thread."""
    from kafka import KafkaConsumer, TopicPartition

    timeout_ms = int(timeout_s * 1000)
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None, enable_auto_commit=False,
                             bootstrap_timeout_ms=timeout_ms, client_id="console-dlq-counts", **_client_kwargs(kafka))
    try:
        existing = consumer.topics()
        counts = []
        for spec in ALL_TOPICS:
            name = kafka.topic(dlq_name(spec.name))
            if name not in existing:
                counts.append(DeadLetterCount(spec.name, name, None))
                continue
            partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
            end = consumer.end_offsets(partitions, timeout_ms=timeout_ms)
            start = consumer.beginning_offsets(partitions, timeout_ms=timeout_ms)
            counts.append(DeadLetterCount(spec.name, name, sum(end[tp] - start[tp] for tp in partitions)))
        return counts
    finally:
        consumer.close()

"""Inspect and replay dead letters after a fix.

    python -m tools.dlq list   [--topic platform.orders] [--limit 50]
    python -m tools.dlq replay [--topic platform.orders] [--offset N ...] [--dry-run]

`list` reads every `<topic>.dlq` from the beginning and prints one line per dead letter: source
topic/partition/offset, consumer, time, reason. `replay` sends the original bytes back to their
source topic with their key, in a consumer group of its own (`dlq-replay`) whose offsets are
committed after sending, so a dead letter is replayed once; consumers dedupe on event ids, so a
replayed event that had in fact been applied changes nothing. Replaying chosen `--offset`s
does not move the group's position: a later full replay still includes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shared.kafka_security import kafka_python_kwargs
from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, dlq_name


@dataclass
class DeadLetter:
    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    def summary(self) -> dict[str, str | int]:
        return {
            "dlq": f"{self.dlq_topic}[{self.dlq_partition}]@{self.dlq_offset}",
            "source": f"{self.headers.get('dlq.source.topic')}[{self.headers.get('dlq.source.partition')}]"
                      f"@{self.headers.get('dlq.source.offset')}",
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,  # the order id, to grep
            "consumer": self.headers.get("dlq.consumer", ""),
            "failed_at": self.headers.get("dlq.failed_at", ""),
            "reason": self.headers.get("dlq.reason", ""),
            "bytes": len(self.value),
        }


def dlq_topics(kafka: KafkaSettings, only: str | None) -> list[str]:
    names = [spec.name for spec in ALL_TOPICS if only in (None, spec.name)]
    if not names:
        raise SystemExit(f"unknown topic {only!r}; topics: {', '.join(s.name for s in ALL_TOPICS)}")
    return [kafka.topic(dlq_name(n)) for n in names]


def read(kafka: KafkaSettings, topics: list[str], group_id: str | None) -> tuple[KafkaConsumer, list[DeadLetter]]:
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group_id,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000,
                             **kafka_python_kwargs(kafka))
    existing = consumer.topics()
    consumer.subscribe([t for t in topics if t in existing])
    letters = [
        DeadLetter(r.topic, r.partition, r.offset, r.key, r.value or b"",
                   {k: v.decode("utf-8", "replace") for k, v in (r.headers or [])})
        for r in consumer
    ]
    return consumer, letters


def list_letters(kafka: KafkaSettings, topic: str | None, limit: int) -> list[DeadLetter]:
    consumer, letters = read(kafka, dlq_topics(kafka, topic), group_id=None)
    consumer.close()
    for letter in letters[:limit]:
        print(json.dumps(letter.summary(), ensure_ascii=False))
    print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return letters


def replay(kafka: KafkaSettings, topic: str | None, offsets: set[int] | None, dry_run: bool) -> int:
    consumer, letters = read(kafka, dlq_topics(kafka, topic), group_id=kafka.topic_prefix + "dlq-replay")
    chosen = [l for l in letters if offsets is None or l.dlq_offset in offsets]
    producer = None if dry_run else KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                                                      **kafka_python_kwargs(kafka))
    for letter in chosen:
        source = letter.headers.get("dlq.source.topic")
        if not source:
            print(f"skipped {letter.summary()['dlq']}: no dlq.source.topic header", file=sys.stderr)
            continue
        print(("would replay " if dry_run else "replaying ") + f"{letter.summary()['dlq']} -> {source}")
        if producer is not None:
            producer.send(source, value=letter.value, key=letter.key,
                          headers=[("dlq.replayed_from", f"{letter.dlq_topic}@{letter.dlq_offset}".encode())]).get(30)
    if producer is not None:
        producer.flush()
        producer.close()
        # Only after every send was acknowledged: the replayed letters are marked done.
        positions = {}
        for letter in letters:
            tp = TopicPartition(letter.dlq_topic, letter.dlq_partition)
            positions[tp] = max(positions.get(tp, 0), letter.dlq_offset + 1)
        if positions and offsets is None:
            from kafka.structs import OffsetAndMetadata
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in positions.items()})
    consumer.close()
    print(f"{len(chosen)} dead letter(s) {'selected' if dry_run else 'replayed'}", file=sys.stderr)
    return len(chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dlq", description="Inspect and replay dead letters.")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list")
    ls.add_argument("--topic", help="source topic, e.g. platform.orders (default: all)")
    ls.add_argument("--limit", type=int, default=1000)
    rp = sub.add_parser("replay")
    rp.add_argument("--topic")
    rp.add_argument("--offset", type=int, action="append", help="only these dead-letter offsets")
    rp.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    kafka = KafkaSettings()
    if args.command == "list":
        list_letters(kafka, args.topic, args.limit)
    else:
        replay(kafka, args.topic, set(args.offset) if args.offset else None, args.dry_run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

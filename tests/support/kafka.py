"""Kafka helpers for tests: publish raw bytes or events, and read topics until something shows up."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.value)

    @property
    def type(self) -> str | None:
        try:
            return self.json.get("type")
        except Exception:
            return None

    @property
    def data(self) -> dict[str, Any]:
        return self.json["data"]


class Publisher:
    def __init__(self, bootstrap: str) -> None:
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)

    def send_raw(self, topic: str, value: bytes, key: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self._producer.send(topic, value=value, key=key.encode() if key else None,
                            headers=[(k, v.encode()) for k, v in (headers or {}).items()]).get(timeout=30)

    def send_many_raw(self, topic: str, items: list[tuple[str | None, bytes]]) -> None:
        futures = [self._producer.send(topic, value=v, key=k.encode() if k else None) for k, v in items]
        self._producer.flush(timeout=60)
        for f in futures:
            f.get(timeout=30)

    def send_records(self, topic: str, records: list[tuple[bytes | None, bytes | None, list[tuple[bytes, bytes]]]],
                     *, partition: int | None = None) -> list[tuple[int, int]]:
        """Records exactly as given, in order: key bytes, value bytes (None: a tombstone, which
        needs a key) and headers as raw (key, value) bytes that need not be UTF-8, keys included
        (the protocol says a header key is a string; nothing on the way checks it). Returns each
        record's (partition, offset)."""
        futures = [self._producer.send(topic, value=value, key=key, partition=partition,
                                       headers=[(RawHeaderKey(k), bytes(v)) for k, v in headers])
                   for key, value, headers in records]
        self._producer.flush(timeout=60)
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]

    def send_event(self, topic: str, type_: str, data: dict[str, Any], *, key: str,
                   event_id: str | None = None, source: str = "tests") -> str:
        event = cloud_event(type_, data, subject=key, event_id=event_id, source=source)
        self.send_raw(topic, json.dumps(event).encode(), key=key)
        return event["id"]

    def close(self) -> None:
        self._producer.close(timeout=10)


class RawHeaderKey(str):
    """A header key sent as these exact bytes. kafka-python takes header keys as `str` and
    writes `key.encode("utf-8")`; this one encodes to its raw bytes, UTF-8 or not."""

    raw: bytes

    def __new__(cls, raw: bytes | str) -> RawHeaderKey:
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        key = super().__new__(cls, raw.decode("utf-8", "surrogateescape"))
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:  # type: ignore[override]
        return self.raw


def cloud_event(type_: str, data: dict[str, Any], *, subject: str | None = None,
                event_id: str | None = None, source: str = "tests") -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source, "type": type_,
        "time": datetime.now(UTC).isoformat(), "subject": subject, "datacontenttype": "application/json",
        "data": data,
    }


@dataclass
class TopicReader:
    """Reads a topic from the beginning (no consumer group) and keeps everything it has seen."""

    bootstrap: str
    topic: str
    seen: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._consumer = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=None,
                                       auto_offset_reset="earliest", enable_auto_commit=False)

    def poll(self, timeout_s: float = 0.5) -> list[Message]:
        new: list[Message] = []
        for records in self._consumer.poll(timeout_ms=int(timeout_s * 1000)).values():
            for r in records:
                new.append(Message(
                    topic=r.topic, partition=r.partition, offset=r.offset,
                    key=r.key.decode("utf-8", "replace") if r.key is not None else None, value=r.value or b"",
                    headers={k: v.decode("utf-8", "replace") for k, v in (r.headers or [])},
                ))
        self.seen.extend(new)
        return new

    def wait_for(self, predicate: Callable[[Message], bool], *, count: int = 1, timeout_s: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        while True:
            matches = [m for m in self.seen if _safe(predicate, m)]
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: wanted {count} matching messages within {timeout_s}s, "
                                     f"found {len(matches)} among {len(self.seen)}")
            self.poll(0.3)

    def settle(self, quiet_s: float = 2.0) -> list[Message]:
        """Read until nothing new arrives for `quiet_s`; for asserting that something did NOT happen."""
        last_new = time.monotonic()
        while time.monotonic() - last_new < quiet_s:
            if self.poll(0.3):
                last_new = time.monotonic()
        return self.seen

    def close(self) -> None:
        self._consumer.close()


class GroupLag:
    """How far consumer groups are behind: end offset minus committed offset per partition (a
    partition the group never committed counts from the start, i.e. all of it)."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)

    def lags(self, groups: dict[str, str]) -> dict[str, dict[int, int]]:
        """{group: {partition: lag}} for `groups` ({group id: the topic it reads})."""
        return {group: {p: end - done for p, (done, end) in parts.items()}
                for group, parts in self.positions(groups).items()}

    def positions(self, groups: dict[str, str]) -> dict[str, dict[int, tuple[int, int]]]:
        """{group: {partition: (committed offset, end offset)}}; never committed counts as 0."""
        topics = set(groups.values())
        parts = {t: sorted(self._consumer.partitions_for_topic(t) or ()) for t in topics}
        ends = self._consumer.end_offsets([TopicPartition(t, p) for t in topics for p in parts[t]])
        committed = self._admin.list_group_offsets({group: None for group in groups})
        result: dict[str, dict[int, tuple[int, int]]] = {}
        for group, topic in groups.items():
            offsets = committed.get(group) or {}
            result[group] = {}
            for p in parts[topic]:
                tp = TopicPartition(topic, p)
                done = offsets[tp].offset if tp in offsets and offsets[tp].offset >= 0 else 0
                result[group][p] = (done, ends[tp])
        return result

    def close(self) -> None:
        self._consumer.close()
        self._admin.close()


def _safe(predicate: Callable[[Message], bool], message: Message) -> bool:
    try:
        return bool(predicate(message))
    except Exception:
        return False

"""What a consumer hands around: the record as read from Kafka, the handler types, and the words
for why a record is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.envelope import CloudEvent, Contract, UndecodableEvent
from shared import tracing
from shared.limits import MAX_JSON_DEPTH
from shared.unit_of_work import EventHandler, UnitOfWork


class InvalidEvent(Exception):
    """Raised by a handler: this event can never be applied. It is dead-lettered at once with the
    reason, and the handler's changes are rolled back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Handler = Callable[[UnitOfWork, Any], Any] | EventHandler
"""A synchronous use case run in a worker thread inside one database transaction; an
`EventHandler` also names the batch read (`Prefetch`) it benefits from."""

InvalidHandler = Callable[[UnitOfWork, str], None]
"""Called, in the dead letter's transaction, when a message on a topic is dead-lettered; lets a
service tell the sender (e.g. `order.rejected`). `ctx.event` is None when the bytes were not
even an envelope."""


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    type_hint: str | None = None
    """The `ce_type` header our outbox puts on every event it publishes: lets a consumer pass
    over an event type it has no handler for without decoding it."""
    trace: dict[str, str] | None = None
    """Its W3C trace headers when tracing is on and they can be trusted (shared/tracing.py)."""


def content_digest(event: CloudEvent, payload: Contract) -> str:
    """What an event says, independent of how its JSON was spelled: the inbox keeps it (for
    topics written outside the platform), so the same id arriving again with other content is
    told apart from a re-send."""
    text = f"{event.type}\x1f{event.dataversion}\x1f".encode() + payload.model_dump_json().encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def reused_id_reason(event: CloudEvent) -> str:
    return (f"event id {event.id!r} was already used for a {event.type} with other content; "
            "a new event needs a new id (this one was not applied)")


def undecodable_reason(exc: Exception) -> str:
    if isinstance(exc, UndecodableEvent):
        return exc.reason
    if isinstance(exc, RecursionError):
        return f"not a usable event: JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return f"not a usable event: {exc!r}"[:2000]


STRUCTURED = b"application/cloudevents"
"""The start of a structured-mode record's `content-type` (`application/cloudevents+json`)."""


def record_from_kafka(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                      headers: Any) -> Record:
    """A consumed Kafka record, its value always a structured-mode CloudEvent from here on.

    The CloudEvents Kafka binding allows two modes. Structured (what the services write, and a
    platform service sending plain JSON envelopes): the value is the whole event; the
    `content-type` header, when present, says `application/cloudevents+json`. Binary: the
    attributes are `ce_*` headers (`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, ...), the
    data is the value and `content-type` is the data's. A binary record is turned into the
    structured form here, so decoding, the inbox digest and the dead-letter copy read one shape.
    One that cannot be (its data is not JSON, a header is not text) keeps its bytes and is
    dead-lettered with the reason its envelope gives."""
    value = value or b""
    type_hint: str | None = None
    binary = False
    structured = False
    for name, header in headers or ():
        if name == "ce_type":
            type_hint = _text(header)
        elif name == "ce_specversion":
            binary = True
        elif name.lower() == "content-type" and isinstance(header, bytes) and header.startswith(STRUCTURED):
            structured = True
    if binary and not structured:
        value = structured_from_binary(headers, value) or value
    return Record(topic=topic, partition=partition, offset=offset, key=key, value=value, type_hint=type_hint,
                  trace=tracing.carrier_from_headers(headers) if tracing.ENABLED else None)


def structured_from_binary(headers: Any, data: bytes) -> bytes | None:
    """The structured-mode bytes of a binary-mode record, or None when it cannot be built."""
    envelope: dict[str, Any] = {}
    for name, header in headers or ():
        text = _text(header)
        if text is None:
            return None
        if name.startswith("ce_") and len(name) > 3:
            envelope[name[3:]] = text
        elif name.lower() == "content-type":
            # The data's media type; ours is JSON, parameters such as a charset aside.
            envelope["datacontenttype"] = "application/json" if text.split(";")[0].strip() == "application/json" else text
    if "dataversion" in envelope:
        version = envelope["dataversion"]
        envelope["dataversion"] = int(version) if version.isdigit() and len(version) < 10 else version
    envelope.setdefault("datacontenttype", "application/json")
    try:
        envelope["data"] = json.loads(data)
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON text (or nested past what json reads)
        return None


def _text(header: Any) -> str | None:
    try:
        return header.decode() if isinstance(header, bytes) else None
    except UnicodeDecodeError:
        return None

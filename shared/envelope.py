"""The CloudEvents 1.0 envelope every event travels in, and the base of every payload contract.

Structured JSON mode is what the services write (`encode`, and `encode_new_event` in
shared/event_registry.py); `decode_envelope` reads one and says in a platform engineer's words
why bytes are not one. Binary mode (the `ce_*` headers and the data as the value, as the
CloudEvents Kafka binding defines it) is accepted on input: `structured_from_binary` turns such a
record into the structured form before anything else reads it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.contract_types import describe_validation_error

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
"""The Kafka `content-type` header of a structured-mode event (CloudEvents Kafka binding 3.2)."""


def to_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+14:00; a ValueError makes it a validation error
        raise ValueError("time is out of range once converted to UTC") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""A timezone-aware instant, normalised to UTC. Naive times are refused."""

PriorityClass = Literal["presale", "high_value", "standard"]
OrderType = Literal["standard", "presale"]


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# Envelope


class CloudEvent(BaseModel):
    """CloudEvents 1.0, structured JSON mode. `data` is validated separately against the payload
    model registered for (`type`, `dataversion`), so an unknown type can be reported as such.
    (`decode_event`, the consumers' fast way, gives a typed envelope instead: there `data` is
    the payload model; `data_field` reads a field from either.)"""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200, description="Unique per event; consumers dedupe on it.")
    source: str = Field(min_length=1, max_length=200, examples=["checkout", "orders"])
    type: str = Field(min_length=1, max_length=100, examples=["order.placed"])
    time: UtcDatetime
    subject: str | None = Field(default=None, max_length=200, description="The aggregate id: order id or sku.")
    datacontenttype: Literal["application/json"] = "application/json"
    dataversion: int = Field(default=1, ge=1, description="Version of the payload model `data` follows.")
    data: dict[str, Any]



def encode(event: CloudEvent) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


TIME_JSON: TypeAdapter[datetime] = TypeAdapter(datetime)


def json_text(value: str) -> str:
    # As pydantic writes a string (non-ASCII kept as UTF-8, not escaped). Ids, sources and types
    # need no escaping at all, which a check tells in a seventh of json.dumps's time.
    if value.isprintable() and '"' not in value and "\\" not in value:
        return '"' + value + '"'
    return json.dumps(value, ensure_ascii=False)


class UndecodableEvent(ValueError):
    """The bytes are not a usable event; `reason` says why in words a platform engineer can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_envelope(raw: bytes) -> CloudEvent:
    # Nearly every message is a good envelope: pydantic parses and validates it from the bytes
    # in one pass (a third of the cost of json.loads and then validating). Anything it refuses
    # goes the careful way below, which says why in a platform engineer's words.
    try:
        return CloudEvent.model_validate_json(raw)
    except Exception:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UndecodableEvent(f"not UTF-8 text: {exc}") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UndecodableEvent(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(obj, dict):
        raise UndecodableEvent("not a CloudEvents envelope: the JSON value is not an object")
    try:
        return CloudEvent.model_validate(obj)
    except ValidationError as exc:
        raise UndecodableEvent("invalid CloudEvents envelope: " + describe_validation_error(exc)) from exc
    except Exception as exc:  # whatever a validator raises, bad bytes must reach the dead-letter path
        raise UndecodableEvent(f"invalid CloudEvents envelope: {exc!r}") from exc


# A guess only: decode_event checks the envelope's own `type` against it.
ENVELOPE_TYPE_GUESS = re.compile(rb'"type"\s*:\s*"([a-z0-9._-]{1,100})"')


def data_field(event: CloudEvent, name: str) -> Any:
    """A field of the event's payload, whichever way the event was decoded (None when absent)."""
    data = event.data
    return data.get(name) if isinstance(data, dict) else getattr(data, name, None)


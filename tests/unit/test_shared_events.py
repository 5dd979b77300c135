from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.events import (
    OrderLine,
    SupplierDelivery,
    UndecodableEvent,
    decode_envelope,
    decode_payload,
    encode,
    new_event,
)
from tools import events_doc
from shared.settings import REPO_ROOT


def delivery_event():
    return new_event("supplier.delivery",
                     SupplierDelivery(delivery_id="D-1", sku="S", quantity=5,
                                      delivered_at=datetime(2026, 11, 11, 8, tzinfo=timezone(timedelta(hours=8)))),
                     source="tests", subject="S", time=datetime.now(UTC))


def test_an_event_survives_encoding_and_decoding_with_times_in_utc() -> None:
    event = decode_envelope(encode(delivery_event()))
    payload = decode_payload(event)
    assert isinstance(payload, SupplierDelivery)
    assert payload.delivered_at == datetime(2026, 11, 11, 0, tzinfo=UTC)
    assert payload.delivered_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe", "not UTF-8"),
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not an object"),
    (b'{"id": "x"}', "invalid CloudEvents envelope"),
])
def test_undecodable_bytes_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(UndecodableEvent, match=reason):
        decode_envelope(raw)


def test_unknown_types_and_invalid_payloads_are_refused_with_a_reason() -> None:
    event = delivery_event()
    with pytest.raises(UndecodableEvent, match="unknown event type"):
        decode_payload(event.model_copy(update={"type": "order.teleported"}))
    with pytest.raises(UndecodableEvent, match="quantity"):
        decode_payload(event.model_copy(update={"data": {**event.data, "quantity": 0}}))


def test_naive_times_are_refused() -> None:
    event = delivery_event()
    with pytest.raises(UndecodableEvent, match="delivered_at"):
        decode_payload(event.model_copy(update={"data": {**event.data, "delivered_at": "2026-11-11T00:00:00"}}))


def test_a_payload_must_be_the_model_registered_for_its_type() -> None:
    with pytest.raises(TypeError):
        new_event("order.placed", OrderLine(sku="S", quantity=1, unit_price=Decimal("1.00")),
                  source="t", subject=None, time=datetime.now(UTC))


def test_docs_events_md_is_generated_from_the_current_contracts() -> None:
    assert (REPO_ROOT / "docs" / "events.md").read_text() == events_doc.render(), "run `make docs`"

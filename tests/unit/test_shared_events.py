import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.events import (
    OrderAccepted,
    OrderLine,
    OrderRejected,
    SkuQuantity,
    StockBackordered,
    SupplierDelivery,
    UndecodableEvent,
    data_field,
    decode_envelope,
    decode_event,
    decode_payload,
    encode,
    encode_new_event,
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


# The outbox writes envelopes with encode_new_event: they must be the very bytes the envelope
# model writes, whatever the payload and however odd the ids.
SHANGHAI = timezone(timedelta(hours=8))
PAYLOADS = {
    "order.accepted": OrderAccepted(
        order_id="O-1", customer_id="C-1", order_type="presale", priority_class="presale", priority_rank="0-1",
        lines=[OrderLine(sku="S-1", quantity=2, unit_price=Decimal("59.90")),
               OrderLine(sku="S-2", quantity=1, unit_price=Decimal("0.00"), gift=True)],
        discount=Decimal("10.00"), paid_amount=Decimal("109.80"), paid_at=datetime(2026, 11, 11, 8, tzinfo=SHANGHAI),
        region="上海", currency="CNY", deposit=Decimal("20.00"), balance_paid_at=None,
        accepted_at=datetime(2026, 11, 11, 0, 0, 0, 5, tzinfo=UTC)),
    "order.rejected": OrderRejected(order_id=None, reason='a "quoted" reason \\ with ✓ 上海', source_event_id=None),
    "stock.backordered": StockBackordered(order_id="O-2", missing=[SkuQuantity(sku="S-1", quantity=3)], presale=True,
                                          backordered_at=datetime(2026, 6, 18, tzinfo=UTC)),
    "supplier.delivery": SupplierDelivery(delivery_id="D-1", sku="S", quantity=5,
                                          delivered_at=datetime(2026, 11, 11, 8, tzinfo=SHANGHAI)),
}
_header_text = st.text(min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(type_=st.sampled_from(sorted(PAYLOADS)), event_id=_header_text, source=_header_text,
       subject=st.none() | st.text(max_size=40),
       time=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                         timezones=st.sampled_from([UTC, SHANGHAI, timezone(timedelta(hours=-5, minutes=-30))])))
def test_the_outbox_encoding_is_the_envelope_models_byte_for_byte(type_, event_id, source, subject, time) -> None:
    payload = PAYLOADS[type_]
    try:
        expected = encode(new_event(type_, payload, source=source, subject=subject, time=time, event_id=event_id))
    except (ValueError, UnicodeEncodeError) as refused:  # e.g. a lone surrogate: refused the same way
        with pytest.raises(type(refused)):
            encode_new_event(type_, payload, source=source, subject=subject, time=time, event_id=event_id)
        return
    assert encode_new_event(type_, payload, source=source, subject=subject, time=time,
                            event_id=event_id) == (event_id, expected)


def test_the_outbox_encoding_refuses_what_the_envelope_refuses() -> None:
    payload = PAYLOADS["order.rejected"]
    for too_long in ({"subject": "s" * 201}, {"source": ""}, {"event_id": "i" * 201}):
        arguments = {"source": "orders", "subject": "O-1", "time": datetime.now(UTC), **too_long}
        with pytest.raises(ValidationError):
            encode_new_event("order.rejected", payload, **arguments)
    with pytest.raises(TypeError):
        encode_new_event("order.placed", payload, source="orders", subject=None, time=datetime.now(UTC))
    event_id, _ = encode_new_event("order.rejected", payload, source="orders", subject=None, time=datetime.now(UTC))
    assert len(event_id) == 36  # a fresh uuid when none is given


# decode_event: the consumers' one-pass decoding must accept exactly what the two steps accept.
def _envelope_bytes(type_: str, **changes) -> bytes:
    event = new_event(type_, PAYLOADS[type_], source="tests", subject="S-1", time=datetime.now(UTC))
    return json.dumps({**event.model_dump(mode="json", exclude_none=True), **changes}).encode()


@pytest.mark.parametrize("type_", sorted(PAYLOADS))
@pytest.mark.parametrize("with_header", [True, False])
def test_one_pass_decoding_gives_what_the_two_steps_give(type_, with_header) -> None:
    raw = _envelope_bytes(type_)
    event, payload = decode_event(raw, type_ if with_header else None)
    two_steps = decode_envelope(raw)
    assert payload == decode_payload(two_steps) == PAYLOADS[type_] and event.data is payload
    assert (event.id, event.source, event.type, event.time, event.subject) == (
        two_steps.id, two_steps.source, two_steps.type, two_steps.time, two_steps.subject)
    assert data_field(event, "order_id") == data_field(two_steps, "order_id") == getattr(payload, "order_id", None)


@pytest.mark.parametrize("raw, hint", [
    (_envelope_bytes("order.rejected", data={"reason": 5, "order_id": None}), "order.rejected"),  # invalid payload
    (_envelope_bytes("order.rejected", data={"reason": "x", "order_id": None, "extra": 1}), None),  # forbidden field
    (_envelope_bytes("order.rejected"), "stock.backordered"),  # the header names another type
    (_envelope_bytes("order.rejected", dataversion=2), "order.rejected"),  # a later payload version
    (_envelope_bytes("order.rejected", type="order.teleported"), None),  # an unknown type
    (_envelope_bytes("order.rejected", time="2026-11-11T00:00:00"), None),  # a naive time
    (b'{"type":"order.rejected", not json', None),
    (b"\xff\xfe", "order.rejected"),
])
def test_one_pass_decoding_leaves_anything_doubtful_to_the_two_steps(raw, hint) -> None:
    assert decode_event(raw, hint) is None

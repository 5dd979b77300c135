import copy
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
    encode,
)
from shared.event_registry import decode_event, decode_payload, encode_new_event, new_event
from shared.contract_types import (
    DERIVED_ID_MAX_LENGTH,
    DERIVED_ID_PATTERN,
    ID_MAX_LENGTH,
    describe_validation_error,
    id_problem,
    reason_text,
)
from shared.event_registry import EVENT_MODELS
from shared.limits import ID_PATTERN, MAX_AMOUNT
from shared.money import AMOUNT_PATTERN, to_money
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


# ---------------------------------------------------------------------------------------------
# Limits as contract (issue 27): every bound of every payload, at the limit and one past it.

T = "2026-11-11T00:00:00Z"
_LINE = {"sku": "SKU-1", "quantity": 1, "unit_price": "1.00", "gift": False, "weight_kg": "0.50",
         "volume_l": "1.00", "gift_for_sku": "SKU-2"}
_ORDER = {"order_id": "O-1", "customer_id": "C-1", "lines": [_LINE], "discount": "0.00", "paid_amount": "1.00",
          "paid_at": T, "region": "上海", "currency": "CNY", "deposit": "0.00",
          "promotions": [{"kind": "spend_threshold", "code": "满200减30", "threshold": "200.00", "amount": "30.00"}]}
_SHIPMENT = {"order_id": "O-1", "shipment_id": "SHP-O-1"}
_CASE = {"case_id": "CASE-1", "order_id": "O-1"}
_RETURN_LINES = [{"sku": "SKU-1", "quantity": 1, "gift": False}]
SAMPLES: dict[str, dict] = {
    "order.placed": {**_ORDER, "order_type": "standard", "delivery_address": "上海 浦东 1号"},
    "order.accepted": {**_ORDER, "order_type": "standard", "priority_class": "standard", "priority_rank": "2-1-O-1",
                       "accepted_at": T},
    "order.rejected": {"order_id": "O-1", "reason": "why", "source_event_id": "e-1"},
    "order.cancelled": {"order_id": "O-1", "reason": "changed my mind"},
    "order.cancellation_requested": {"order_id": "O-1", "reason": "changed my mind", "cancelled_at": T},
    "order.cancellation_refused": {"order_id": "O-1", "reason": "shipped", "source_event_id": "e-1", "refused_at": T},
    "stock.reserved": {"order_id": "O-1", "priority_class": "standard", "priority_rank": "2-1-O-1", "lines": [_LINE],
                       "region": "Shanghai", "paid_at": T, "reserved_at": T,
                       "parts": [{"warehouse": "east", "lines": [{"sku": "SKU-1", "quantity": 1}]}]},
    "stock.backordered": {"order_id": "O-1", "missing": [{"sku": "SKU-1", "quantity": 1}], "backordered_at": T},
    "stock.released": {"order_id": "O-1", "lines": [{"sku": "SKU-1", "quantity": 1}], "released_at": T},
    "replenishment.requested": {"request_id": "R-1", "sku": "SKU-1", "quantity": 1, "reason": "low", "requested_at": T,
                                "warehouse": "east"},
    "sku.mode_changed": {"sku": "SKU-1", "mode": "presale", "reason": "sold out", "changed_at": T,
                         "discount_percent": 10},
    "supplier.delivery": {"delivery_id": "D-1", "sku": "SKU-1", "quantity": 1, "delivered_at": T,
                          "warehouse": "east"},
    "shipment.dispatched": {**_SHIPMENT, "carrier": "SF", "tracking_number": "SF1", "dispatched_at": T,
                            "replacement_for_case": "CASE-1", "warehouse": "east",
                            "lines": [{"sku": "SKU-1", "quantity": 1}], "order_complete": False},
    "shipment.delivered": {**_SHIPMENT, "delivered_at": T},
    "shipment.exception": {**_SHIPMENT, "kind": "damaged", "note": "box crushed", "reported_at": T},
    "carrier.delivery": {"carrier": "SF", "tracking_number": "SF1", "delivered_at": T},
    "return.requested": {**_CASE, "kind": "return", "lines": _RETURN_LINES, "reason": "too small", "requested_at": T},
    "return.rejected": {**_CASE, "reason": "worn", "rejected_at": T},
    "return.approved": {**_CASE, "approved_at": T},
    "return.arrived": {**_CASE, "lines": _RETURN_LINES, "arrived_at": T},
    "return.received": {**_CASE, "lines": _RETURN_LINES, "inspection_passed": True, "received_at": T},
    "refund.issued": {**_CASE, "amount": "1.00", "issued_at": T},
    "exchange.requested": {**_CASE, "lines": [_LINE], "region": "Shanghai", "requested_at": T},
    "order.balance_paid": {"order_id": "O-1", "balance_amount": "1.00", "paid_at": T},
    "order.balance_received": {"order_id": "O-1", "balance_amount": "1.00", "paid_amount": "2.00", "balance_paid_at": T,
                               "priority_rank": "0-1-O-1", "received_at": T},
    "order.deposit_forfeited": {"order_id": "O-1", "customer_id": "C-1", "deposit": "1.00", "balance_due_by": T,
                                "closed_at": T},
    "order.held": {"order_id": "O-1", "customer_id": "C-1", "rule": "purchase_limit", "reason": "over the limit",
                   "figures": {"bought": "3"}, "held_at": T},
    "order.released": {"order_id": "O-1", "released_by": "agent-1", "note": "checked", "released_at": T},
    "stock.sku_unknown": {"order_id": "O-1", "skus": ["SKU-1"], "found_at": T},
    "customer.notification_requested": {**_SHIPMENT, "reason": "shipment_damaged", "message": "Your parcel was damaged.",
                                        "note": "box crushed", "requested_at": T},
    "traffic.counted": {"window_start": T, "window_seconds": 60, "visitors": 1200},
}


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == {type_ for type_, _ in EVENT_MODELS}


def _bounded_leaves(data, schema, root, path=()):
    """(path, property schema) of every bounded field or list the sample fills in."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        yield from _bounded_leaves(data, schema, root, path)
    elif isinstance(data, dict) and "properties" not in schema:  # a map: its values are bounded
        for name, value in data.items():
            yield from _bounded_leaves(value, schema["additionalProperties"], root, (*path, name))
    elif isinstance(data, dict):
        for name, value in data.items():
            yield from _bounded_leaves(value, schema["properties"][name], root, (*path, name))
    elif isinstance(data, list):
        if "maxItems" in schema:
            yield path, schema
        yield from _bounded_leaves(data[0], schema["items"], root, (*path, 0))
    elif any(k in schema for k in ("pattern", "maxLength", "maximum")):
        yield path, schema


def _edges(schema: dict) -> tuple[list, list]:
    """Values at the limits (accepted) and one past them (refused) for a field's schema."""
    if "maxItems" in schema:
        return [schema["maxItems"]], [schema["maxItems"] + 1]  # list lengths
    if schema.get("pattern") in (ID_PATTERN, DERIVED_ID_PATTERN):
        longest = ID_MAX_LENGTH if schema["pattern"] == ID_PATTERN else DERIVED_ID_MAX_LENGTH
        return (["A" + "b" * (longest - 1), "9", "a._:@#/+-z"],
                ["A" + "b" * longest, "", "O-1 ", " O-1", "O-\u200b1", "O-1\x00", "\uff33KU-1", "SKU\u202e1", "-O",
                 "O\n", "Ö-1"])
    if schema.get("pattern") == AMOUNT_PATTERN:
        return ["0.00", f"{MAX_AMOUNT}", "0", "-0.00"], ["-0.01", f"{MAX_AMOUNT + Decimal('0.01')}", "0.001",
                                                         str(2**64), "1" + "0" * 40, "1e3", " 1", "NaN", 1.5]
    if schema.get("format") == "text":
        return (["x" * schema["maxLength"], "上海 浦东", "Cafe\u0301"],
                ["x" * (schema["maxLength"] + 1), " x", "x ", "x\u200by", "x\u202ey", "x\ny", "x\x00", "\u3000x"])
    if schema.get("format") == "multiline-text":  # a person's note: line breaks and tabs are fine
        return (["x" * schema["maxLength"], "上海 浦东", "line 1\r\nline 2\tz"],
                ["x" * (schema["maxLength"] + 1), " x", "x\n", "x\u200by", "x\u202ey", "x\x00", "x\ry", "x\u2028y"])
    if schema.get("pattern") == r"^[A-Z]{3}$":
        return ["CNY"], ["cny", "CN", "CNYY", "ＣNY"]
    if schema.get("type") == "string":  # bounded, no other rule (e.g. an event id echoed back)
        return ["x" * schema["maxLength"]], ["x" * (schema["maxLength"] + 1)]
    if schema.get("type") == "integer":
        low = schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else schema["minimum"]
        return [low, schema["maximum"]], [low - 1, schema["maximum"] + 1, -50, 2**63, 10**30]
    raise AssertionError(f"no edges for {schema}")


def _with(data, path, value):
    data = copy.deepcopy(data)
    target = data
    for step in path[:-1]:
        target = target[step]
    if isinstance(value, int) and isinstance(target[path[-1]], list) and not isinstance(value, bool):
        target[path[-1]] = [target[path[-1]][0]] * value
    else:
        target[path[-1]] = value
    return data


CASES = [(type_, path, schema) for type_, sample in SAMPLES.items()
         for path, schema in _bounded_leaves(sample, EVENT_MODELS[(type_, 1)].model_json_schema(),
                                             EVENT_MODELS[(type_, 1)].model_json_schema())]


def test_the_edges_cover_every_kind_of_bound() -> None:
    kinds = {s.get("pattern") or s.get("format") or s.get("type") for _, _, s in CASES}
    assert kinds == {ID_PATTERN, DERIVED_ID_PATTERN, AMOUNT_PATTERN, r"^[A-Z]{3}$", "text", "multiline-text",
                     "string", "integer",
                     "array"}
    # ...and every bounded top-level field of every payload is among them (the samples fill them all).
    for type_, _ in EVENT_MODELS:
        schema = EVENT_MODELS[(type_, 1)].model_json_schema()
        for name, prop in schema["properties"].items():
            text = json.dumps(prop)
            if any(k in text for k in ('"pattern"', '"maxLength"', '"maximum"', '"maxItems"', '"$ref"')):
                assert any(path[0] == name for t, path, _ in CASES if t == type_), (type_, name)


@pytest.mark.parametrize("type_, path, schema", CASES,
                         ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else str(v)[:30])
def test_each_bound_accepts_its_limit_and_refuses_one_past_it(type_, path, schema) -> None:
    model = EVENT_MODELS[(type_, 1)]
    accepted, refused = _edges(schema)
    for value in accepted:
        model.model_validate_json(json.dumps(_with(SAMPLES[type_], path, value)))
    for value in refused:
        with pytest.raises(ValidationError) as exc:
            model.model_validate_json(json.dumps(_with(SAMPLES[type_], path, value)))
        reason = describe_validation_error(exc.value)
        assert reason.startswith(".".join(map(str, path))), reason


def test_reasons_name_the_field_the_bound_and_what_is_wrong() -> None:
    def reason(type_: str, path: tuple, value) -> str:
        with pytest.raises(ValidationError) as exc:
            EVENT_MODELS[(type_, 1)].model_validate_json(json.dumps(_with(SAMPLES[type_], path, value)))
        return describe_validation_error(exc.value)

    assert reason("order.accepted", ("lines", 0, "quantity"), -50) == "lines.0.quantity must be positive, got -50"
    assert reason("order.placed", ("lines", 0, "quantity"), 100_001) == \
        "lines.0.quantity must be at most 100000, got 100001"
    assert reason("refund.issued", ("amount",), "-100.00") == "amount must not be negative, got -100.00"
    assert reason("order.placed", ("paid_amount",), "100000000.01") == \
        "paid_amount must be at most 100000000.00, got 100000000.01"
    assert reason("order.placed", ("lines",), 501) == "lines must have at most 500 items, got 501"
    assert reason("order.placed", ("order_id",), "O-1 ").endswith("; it has U+0020 SPACE at position 3 (the end)")
    assert reason("order.placed", ("lines", 0, "sku"), "SKU\u202e1").endswith(
        "it has U+202E RIGHT-TO-LEFT OVERRIDE at position 3")
    assert reason("order.placed", ("customer_id",), "C" * 65).endswith("it has 65 characters")
    assert reason("order.placed", ("region",), "上\u200b海") == (
        "region must not contain control or invisible formatting characters: U+200B ZERO WIDTH SPACE at position 1")
    assert reason("order.placed", ("region",), " 上海") == "region must not start or end with white space"
    assert reason("order.placed", ("region",), "") == "region must not be empty"
    assert reason("order.placed", ("region",), "x" * 65) == "region must be at most 64 characters, got 65"
    assert reason("supplier.delivery", ("quantity",), 10**30) == \
        "quantity must be at most 1000000000, got 1000000000000000000000000000000"
    assert reason("supplier.delivery", ("quantity",), 10**50).endswith("got " + str(10**50)[:37] + "...")


def test_text_is_normalised_to_nfc_and_amounts_lose_a_negative_zero() -> None:
    placed = EVENT_MODELS[("order.placed", 1)].model_validate(
        {**SAMPLES["order.placed"], "region": "Cafe\u0301", "discount": "-0.00"})
    assert placed.region == "Caf\u00e9" and str(placed.discount) == "0.00"


@pytest.mark.parametrize("raw", ["1e999999999", "1" + "0" * 40, "0." + "1" * 30, "-1e999999999"])
def test_amounts_past_the_decimal_context_are_validation_errors(raw) -> None:
    with pytest.raises(ValidationError):
        EVENT_MODELS[("refund.issued", 1)].model_validate({**SAMPLES["refund.issued"], "amount": raw})
    if "." not in raw:  # to_money rounds finer amounts to the cent on purpose
        with pytest.raises(ValueError):
            to_money(Decimal(raw))


def test_reason_text_makes_any_text_a_valid_reason() -> None:
    text = reason_text(" bad id 'O-\u200b1\x00'\n" + "x" * 3000)
    assert text.startswith("bad id 'O-\\u200b1\\u0000'\\u000a") and len(text) == 2000 and text.endswith("...")
    OrderRejected(order_id=None, reason=text)
    assert reason_text("上海 ok") == "上海 ok"
    assert id_problem("O-1") == "it does not fit" and id_problem("") == "it is empty"

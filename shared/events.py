"""The integration-event contracts: a CloudEvents 1.0 JSON envelope and one payload model per event type.

Every event any service publishes or consumes is declared here once, so platform teams have a
single published contract. Payload models are versioned: the envelope's `dataversion` extension
attribute says which version of the payload model `data` follows (1 for all of them today). A
breaking change adds a new model under the next version instead of editing the old one.

Changes to this module are additive: new optional fields with defaults, new event types.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError,
                      create_model)

from shared.contract_types import (
    MAX_PROMOTIONS_PER_ORDER,
    Currency,
    DerivedId,
    EntityId,
    LineQuantity,
    Reason,
    Sku,
    SkuUnits,
    StockUnits,
    Text,
    describe_validation_error,  # noqa: F401 (re-exported: the services import it from here)
)
from shared.limits import MAX_LINE_QUANTITY, MAX_LINES_PER_ORDER
from shared.money import Amount

def _to_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+14:00; a ValueError makes it a validation error
        raise ValueError("time is out of range once converted to UTC") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC. Naive times are refused."""

PriorityClass = Literal["presale", "high_value", "standard"]
OrderType = Literal["standard", "presale"]

PRIORITY_CLASSES: tuple[str, ...] = ("presale", "high_value", "standard")
"""Dispatch order (R2, R13): presale first, then high-value, then standard."""


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


def new_event(type_: str, data: Contract, *, source: str, subject: str | None, time: datetime,
              event_id: str | None = None) -> CloudEvent:
    """Build an envelope around a payload; the event id is random unless the caller derives one."""
    model = EVENT_MODELS.get((type_, 1))
    if model is None or not isinstance(data, model):
        raise TypeError(f"{type(data).__name__} is not the registered payload of {type_!r}")
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=type_,
        time=time,
        subject=subject,
        data=data.model_dump(mode="json"),
    )


def encode(event: CloudEvent) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def encode_new_event(type_: str, data: Contract, *, source: str, subject: str | None, time: datetime,
                     event_id: str | None = None) -> tuple[str, bytes]:
    """`encode(new_event(...))`, byte for byte, and the event's id; what the outbox writes.

    Built as text around the payload's own JSON: the envelope model would turn the payload into
    a dict, validate that dict again and serialise it once more (22 us an event, against 8 us
    here, and every service publishes on every order). Anything unusual (a field the envelope
    would refuse) takes the envelope's way, so it fails exactly as before."""
    model = EVENT_MODELS.get((type_, 1))
    if model is None or not isinstance(data, model):
        raise TypeError(f"{type(data).__name__} is not the registered payload of {type_!r}")
    event_id = event_id or str(uuid.uuid4())
    if not (0 < len(event_id) <= 200 and 0 < len(source) <= 200 and 0 < len(type_) <= 100
            and (subject is None or len(subject) <= 200)):
        event = new_event(type_, data, source=source, subject=subject, time=time, event_id=event_id)
        return event.id, encode(event)
    head = _json_text(event_id), _json_text(source), _json_text(type_), _TIME_JSON.dump_json(_to_utc(time)).decode()
    value = ('{"specversion":"1.0","id":%s,"source":%s,"type":%s,"time":%s' % head
             + ("" if subject is None else ',"subject":' + _json_text(subject))
             + ',"datacontenttype":"application/json","dataversion":1,"data":' + data.model_dump_json() + "}")
    return event_id, value.encode()


_TIME_JSON: TypeAdapter[datetime] = TypeAdapter(datetime)


def _json_text(value: str) -> str:
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


def decode_event(raw: bytes, type_hint: str | None) -> tuple[CloudEvent, Contract] | None:
    """Envelope and payload in one pass, for an event whose `ce_type` header (`type_hint`), or
    failing that the first `"type"` in its text, names a registered type: the payload's model validates `data` straight from the bytes, where
    `decode_envelope` then `decode_payload` build `data` as a dict and validate that again
    (15.7 us against 9.8 us an event, and every service decodes several per order).

    The envelope returned is a CloudEvent whose `data` is the payload model itself. None
    whenever this does not simply work (no or wrong header, a later payload version, anything
    invalid): the caller then takes the two-step way, which says why an event is refused."""
    if type_hint is None:  # e.g. a platform service's event: the envelope itself says
        found = _ENVELOPE_TYPE.search(raw)
        type_hint = found.group(1).decode() if found else None
    envelope = _TYPED_ENVELOPES.get(type_hint) if type_hint is not None else None
    if envelope is None:
        return None
    try:
        event = envelope.model_validate_json(raw)
    except Exception:
        return None
    if event.type != type_hint or event.dataversion != 1:
        return None
    return event, event.data


# A guess only: decode_event checks the envelope's own `type` against it.
_ENVELOPE_TYPE = re.compile(rb'"type"\s*:\s*"([a-z0-9._-]{1,100})"')


def data_field(event: CloudEvent, name: str) -> Any:
    """A field of the event's payload, whichever way the event was decoded (None when absent)."""
    data = event.data
    return data.get(name) if isinstance(data, dict) else getattr(data, name, None)


def decode_payload(event: CloudEvent) -> Contract:
    model = EVENT_MODELS.get((event.type, event.dataversion))
    if model is None:
        raise UndecodableEvent(f"unknown event type {event.type!r} version {event.dataversion}")
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise UndecodableEvent(f"invalid {event.type} payload: " + describe_validation_error(exc)) from exc
    except Exception as exc:  # as above: never let a payload stall the consumer
        raise UndecodableEvent(f"invalid {event.type} payload: {exc!r}") from exc


# ---------------------------------------------------------------------------------------------
# Shared pieces. The field types (ids, skus, free text, quantities, amounts) and their bounds
# are in shared/contract_types.py and shared/money.py; docs/events.md lists them under Limits.

Region = Text(64, min_length=1)
Note = Text(1000, multiline=True)
ShortText = Text(500, multiline=True)
Code = Text(64)
KnownRegion = Text(64)  # empty when the sender does not know it


class OrderLine(Contract):
    sku: Sku = Field(examples=["SKU-TEA-01"])
    quantity: LineQuantity = Field(description=f"Units ordered: 1 to {MAX_LINE_QUANTITY:,} per line.", examples=[2])
    unit_price: Amount = Field(description="Price per unit before order-level discounts.", examples=["49.90"])
    gift: bool = Field(default=False, description="A free gift with purchase (R5, R20).")
    weight_kg: Amount | None = Field(default=None, description="Per unit, for carrier choice (R15).")
    volume_l: Amount | None = Field(default=None, description="Per unit, litres, for carrier choice (R15).")
    gift_for_sku: Sku | None = Field(default=None,
                                     description="On a gift line: the sku of the paid line whose purchase brought "
                                                 "the gift (R20). Absent: the gift came with the order as a whole.")


_ORDER_LINES: TypeAdapter[list[OrderLine]] = TypeAdapter(list[OrderLine])


def order_lines_json(lines: list[OrderLine]) -> str:
    """Order lines as JSON text, for a service's own tables (read back with json.loads). One
    call into pydantic's serializer: a dict and a json.dumps per line took 12 us for a one-line
    order, this 3 us."""
    return _ORDER_LINES.dump_json(lines).decode()


OrderLines = Annotated[list[OrderLine], Field(max_length=MAX_LINES_PER_ORDER)]


class Promotion(Contract):
    """A promotion the platform applied; kept so returns can tell when a refund loses it (R5, R23)."""

    kind: Literal["spend_threshold", "tiered_discount", "first_order_coupon", "gift_with_purchase"]
    code: Code | None = None  # type: ignore[valid-type]
    threshold: Amount | None = Field(default=None, description="Spend threshold, e.g. 200.00 in '200 off 30'.")
    amount: Amount = Field(description="Discount this promotion gave, e.g. 30.00.")


class SkuQuantity(Contract):
    sku: Sku
    quantity: SkuUnits


# ---------------------------------------------------------------------------------------------
# Inbound from platform services: topic platform.orders


class OrderPlaced(Contract):
    """An order a platform service accepted payment for (R1)."""

    order_id: EntityId = Field(examples=["O-1001"])
    customer_id: EntityId = Field(examples=["C-9"])
    order_type: str = Field(max_length=32, description="`standard` or `presale`.", examples=["standard"])
    lines: OrderLines = Field(min_length=1)
    discount: Amount = Field(default=Decimal("0.00"), description="Order-level discount from promotions.")
    paid_amount: Amount = Field(description="Sum of lines minus discount.", examples=["89.80"])
    paid_at: UtcDatetime
    region: Region = Field(examples=["Shanghai"])  # type: ignore[valid-type]
    currency: Currency = Field(examples=["CNY"])
    deposit: Amount | None = Field(default=None, description="Presale deposit (counts double against the price, R1).")
    balance_paid_at: UtcDatetime | None = Field(default=None, description="When a presale's final payment was made.")
    promotions: list[Promotion] = Field(default_factory=list, max_length=MAX_PROMOTIONS_PER_ORDER)
    first_order: bool = False


# ---------------------------------------------------------------------------------------------
# Orders service: topic orders.events


class OrderAccepted(Contract):
    order_id: EntityId
    customer_id: EntityId
    order_type: OrderType
    priority_class: PriorityClass
    priority_rank: DerivedId = Field(description="Sortable: lower sorts first. Decided once at acceptance (R2).")
    lines: OrderLines
    discount: Amount
    paid_amount: Amount
    paid_at: UtcDatetime
    region: Region  # type: ignore[valid-type]
    currency: Currency
    deposit: Amount | None = None
    balance_paid_at: UtcDatetime | None = None
    promotions: list[Promotion] = Field(default_factory=list, max_length=MAX_PROMOTIONS_PER_ORDER)
    accepted_at: UtcDatetime


class OrderRejected(Contract):
    order_id: EntityId | None = Field(description="Absent when the order id itself was unreadable or invalid.")
    reason: Reason  # type: ignore[valid-type]
    source_event_id: str | None = Field(default=None, max_length=200)


class OrderCancelled(Contract):
    """On platform.orders: the platform asks to cancel (R4), `cancelled_at` may be absent.
    On orders.events: the orders service confirms the cancellation; inventory releases the stock."""

    order_id: EntityId
    reason: ShortText = ""  # type: ignore[valid-type]
    cancelled_at: UtcDatetime | None = None


class OrderCancellationRefused(Contract):
    """On orders.events: a cancellation was asked for but refused, e.g. the order was already
    dispatched (R4: the customer returns it instead). Tells the platform why; nothing to undo."""

    order_id: EntityId
    reason: Reason  # type: ignore[valid-type]
    source_event_id: str | None = Field(default=None, max_length=200,
                                        description="The cancel request refused, when it came as an event.")
    refused_at: UtcDatetime


# ---------------------------------------------------------------------------------------------
# Inventory service: topic inventory.reservations (key order id) and inventory.stock (key sku)


class StockReserved(Contract):
    """Every line of the order is reserved (R7); carries what logistics needs to ship it."""

    order_id: EntityId
    order_type: OrderType = "standard"
    priority_class: PriorityClass
    priority_rank: DerivedId
    lines: OrderLines
    region: Region  # type: ignore[valid-type]
    paid_at: UtcDatetime
    reserved_at: UtcDatetime


class StockBackordered(Contract):
    order_id: EntityId
    missing: list[SkuQuantity] = Field(max_length=MAX_LINES_PER_ORDER, description="Lines that could not be reserved.")
    presale: bool = Field(default=False, description="True when a sku is in presale mode (R10).")
    expected_date: UtcDatetime | None = None
    backordered_at: UtcDatetime


class StockReleased(Contract):
    order_id: EntityId
    lines: list[SkuQuantity] = Field(max_length=MAX_LINES_PER_ORDER)
    released_at: UtcDatetime


class ReplenishmentRequested(Contract):
    request_id: EntityId
    sku: Sku
    quantity: StockUnits = Field(description="Units that restore planned stock.")
    urgent: bool = False
    reason: Note  # type: ignore[valid-type]
    requested_at: UtcDatetime


class SkuModeChanged(Contract):
    sku: Sku
    mode: Literal["in_stock", "presale", "deposit_presale"]
    reason: Note  # type: ignore[valid-type]
    expected_date: UtcDatetime | None = None
    discount_percent: int | None = Field(default=None, ge=0, le=100)
    changed_at: UtcDatetime
    discount_until: UtcDatetime | None = Field(default=None, description="End of the time-limited presale discount (R10).")


# ---------------------------------------------------------------------------------------------
# Suppliers: topic supplier.deliveries


class SupplierDelivery(Contract):
    delivery_id: EntityId
    sku: Sku
    quantity: StockUnits
    delivered_at: UtcDatetime


# ---------------------------------------------------------------------------------------------
# Logistics service: topic logistics.shipments; carriers: topic carrier.events


class ShipmentDispatched(Contract):
    order_id: EntityId
    shipment_id: DerivedId
    carrier: EntityId
    tracking_number: EntityId
    dispatched_at: UtcDatetime
    replacement_for_case: EntityId | None = Field(default=None, description="Set when this ships an exchange.")


class ShipmentDelivered(Contract):
    order_id: EntityId
    shipment_id: DerivedId
    delivered_at: UtcDatetime


class ShipmentException(Contract):
    order_id: EntityId
    shipment_id: DerivedId
    kind: Literal["delayed", "damaged", "lost"]
    note: Note = ""  # type: ignore[valid-type]
    reported_at: UtcDatetime


class CarrierDelivery(Contract):
    carrier: EntityId
    tracking_number: EntityId
    delivered_at: UtcDatetime


# ---------------------------------------------------------------------------------------------
# Aftersales service: topic aftersales.cases


class ReturnLine(Contract):
    sku: Sku
    quantity: LineQuantity
    gift: bool = False


ReturnLines = Annotated[list[ReturnLine], Field(max_length=MAX_LINES_PER_ORDER)]


class ReturnRequested(Contract):
    case_id: EntityId
    order_id: EntityId
    kind: Literal["return", "exchange"]
    lines: ReturnLines
    reason: ShortText = ""  # type: ignore[valid-type]
    requested_at: UtcDatetime


class ReturnRejected(Contract):
    case_id: EntityId
    order_id: EntityId
    reason: ShortText  # type: ignore[valid-type]
    rejected_at: UtcDatetime


class ReturnApproved(Contract):
    """A support agent approved the request; the customer may send the goods back."""

    case_id: EntityId
    order_id: EntityId
    kind: Literal["return", "exchange", "shipment_exception"] = "return"
    approved_at: UtcDatetime


class ReturnArrived(Contract):
    """The returned goods reached the warehouse; inspection follows (`return.received` carries its result)."""

    case_id: EntityId
    order_id: EntityId
    lines: ReturnLines
    arrived_at: UtcDatetime


class ReturnReceived(Contract):
    """Goods are back and inspected; inventory restocks only when inspection passed (R23)."""

    case_id: EntityId
    order_id: EntityId
    lines: ReturnLines
    inspection_passed: bool
    received_at: UtcDatetime


class RefundIssued(Contract):
    case_id: EntityId
    order_id: EntityId
    amount: Amount = Field(description="Never more than what was paid for the order, all refunds together.")
    issued_at: UtcDatetime


class ExchangeRequested(Contract):
    """Asks logistics for a replacement shipment of the same lines."""

    case_id: EntityId
    order_id: EntityId
    lines: list[OrderLine] = Field(max_length=MAX_LINES_PER_ORDER)
    region: KnownRegion  # type: ignore[valid-type]
    requested_at: UtcDatetime


# ---------------------------------------------------------------------------------------------
# Registry: (type, dataversion) -> payload model. Every published or consumed type is here.

EVENT_MODELS: dict[tuple[str, int], type[Contract]] = {
    ("order.placed", 1): OrderPlaced,
    ("order.accepted", 1): OrderAccepted,
    ("order.rejected", 1): OrderRejected,
    ("order.cancelled", 1): OrderCancelled,
    ("order.cancellation_refused", 1): OrderCancellationRefused,
    ("stock.reserved", 1): StockReserved,
    ("stock.backordered", 1): StockBackordered,
    ("stock.released", 1): StockReleased,
    ("replenishment.requested", 1): ReplenishmentRequested,
    ("sku.mode_changed", 1): SkuModeChanged,
    ("supplier.delivery", 1): SupplierDelivery,
    ("shipment.dispatched", 1): ShipmentDispatched,
    ("shipment.delivered", 1): ShipmentDelivered,
    ("shipment.exception", 1): ShipmentException,
    ("carrier.delivery", 1): CarrierDelivery,
    ("return.requested", 1): ReturnRequested,
    ("return.rejected", 1): ReturnRejected,
    ("return.approved", 1): ReturnApproved,
    ("return.arrived", 1): ReturnArrived,
    ("return.received", 1): ReturnReceived,
    ("refund.issued", 1): RefundIssued,
    ("exchange.requested", 1): ExchangeRequested,
}

# One envelope model per payload model, for decode_event: the same envelope, with `data` typed.
_TYPED_ENVELOPES: dict[str, type[CloudEvent]] = {
    type_: create_model(f"{model.__name__}Envelope", __base__=CloudEvent, data=(model, ...))
    for (type_, version), model in EVENT_MODELS.items() if version == 1
}

"""The integration-event contracts: one payload model per event type.

Every event any service publishes or consumes is declared here once, so platform teams have a
single published contract. Payload models are versioned: the envelope's `dataversion` extension
attribute says which version of the payload model `data` follows (1 for all of them today). A
breaking change adds a new model under the next version instead of editing the old one;
contracts/events/ keeps the JSON Schema of each, and tests/unit/test_event_contracts.py fails
on a breaking edit. The envelope is in shared/envelope.py; which model each type has and which
topic each is published on, in shared/event_registry.py.

Changes to this module are additive: new optional fields with defaults, new event types.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

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
from shared.envelope import (  # noqa: F401 (re-exported: older callers import them from here)
    CloudEvent, Contract, UndecodableEvent, UtcDatetime, data_field, decode_envelope, encode,
)
from shared.limits import MAX_LINE_QUANTITY, MAX_LINES_PER_ORDER
from shared.money import Amount

PriorityClass = Literal["presale", "high_value", "standard"]
OrderType = Literal["standard", "presale"]

PRIORITY_CLASSES: tuple[str, ...] = ("presale", "high_value", "standard")
"""Dispatch order (R2, R13): presale first, then high-value, then standard."""


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


class OrderCancellationRequested(Contract):
    """The platform asks to cancel an order (R4); refused after dispatch, with
    `order.cancellation_refused`. `order.cancelled` with the same fields is still accepted on
    platform.orders from senders written before this type had its own name."""

    order_id: EntityId
    reason: ShortText = ""  # type: ignore[valid-type]
    cancelled_at: UtcDatetime | None = Field(default=None, description="When the customer asked, if the platform knows.")


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
    """On orders.events: the orders service confirms the cancellation; inventory releases the
    stock. (Also still accepted on platform.orders as a cancel request: see
    OrderCancellationRequested.)"""

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

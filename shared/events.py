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
from typing import Literal

from pydantic import Field

from shared.contract_types import (
    AddressKey,
    MAX_PROMOTIONS_PER_ORDER,
    Currency,
    DerivedId,
    EntityId,
    Reason,
    Sku,
    StockUnits,
    Text,
    describe_validation_error,  # noqa: F401 (re-exported: the services import it from here)
)
from shared.envelope import (  # noqa: F401 (re-exported: older callers import them from here)
    CloudEvent, Contract, UndecodableEvent, UtcDatetime, data_field, decode_envelope, encode,
)
from shared.event_parts import (  # noqa: F401 (re-exported: the contract is one module to its readers)
    DEFAULT_WAREHOUSE, PRIORITY_CLASSES, SPLIT_POLICIES, Code, KnownRegion, Note, OrderLine, OrderLines, OrderType,
    PriorityClass, Promotion, PromotionKind, Region, ShipmentPart, ShipmentParts, ShortText, SkuQuantity, SplitPolicy,
    WarehouseId, order_lines_json,
)
from shared.limits import MAX_LINES_PER_ORDER
from shared.money import Amount

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
    delivery_address: AddressKey | None = Field(
        default=None, description="The delivery address as the platform keys it (the address itself or a stable "
                                  "digest of it): compared, never shown, to spot many orders or many customers at "
                                  "one address (R6).", examples=["addr-3f9c2a"])
    split_policy: SplitPolicy = Field(
        default="fewest_shipments",
        description="When no single warehouse can fill the order: `fewest_shipments`, `fastest` or `own_region` "
                    "(docs/inventory.md, Several warehouses).")


class OrderBalancePaid(Contract):
    """The final payment of a deposit presale (R1): `balance_amount` must be the lines less the
    discount less the deposit times its expansion, to the cent; paid within the balance window."""

    order_id: EntityId = Field(examples=["O-2001"])
    balance_amount: Amount = Field(examples=["259.00"])
    paid_at: UtcDatetime


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
    balance_due_by: UtcDatetime | None = Field(
        default=None, description="A deposit presale awaiting its balance (`awaiting_balance`) until then: its stock "
                                  "is held as presale quota, it is not picked and not in the 24h/48h figures.")
    split_policy: SplitPolicy = Field(
        default="fewest_shipments",
        description="When no single warehouse can fill the order: `fewest_shipments`, `fastest` or `own_region` "
                    "(docs/inventory.md, Several warehouses).")


class OrderRejected(Contract):
    order_id: EntityId | None = Field(description="Absent when the order id itself was unreadable or invalid.")
    reason: Reason  # type: ignore[valid-type]
    source_event_id: str | None = Field(default=None, max_length=200)


class OrderBalanceReceived(Contract):
    """A deposit presale's balance was paid and checked: the order goes on like any other, ranked
    in the presale class by `balance_paid_at`, its 24h/48h clock starting then."""

    order_id: EntityId
    balance_amount: Amount
    paid_amount: Amount = Field(description="Deposit plus balance: what refunds are bounded by (R23).")
    balance_paid_at: UtcDatetime
    priority_rank: DerivedId
    received_at: UtcDatetime


class OrderDepositForfeited(Contract):
    """The balance was not paid by the end of the window: the order is closed `balance_unpaid`
    and its stock released (an `order.cancelled` follows); what happens to the deposit is the
    platform's policy."""

    order_id: EntityId
    customer_id: EntityId
    deposit: Amount
    balance_due_by: UtcDatetime
    closed_at: UtcDatetime


HoldFigure = Text(100)
Subject = Text(200)


class OrderHeld(Contract):
    """An order that looks like abuse (R6) is kept but held: nothing reserves or ships it until
    support or admin releases it (`order.released`, then `order.accepted`) or cancels it."""

    order_id: EntityId
    customer_id: EntityId
    rule: Code = Field(examples=["purchase_limit"])  # type: ignore[valid-type]
    reason: Reason = Field(examples=["C-9 bought 3 of SKU-PHONE-01 (limit 2 per customer)"])  # type: ignore[valid-type]
    figures: dict[Code, HoldFigure] = Field(default_factory=dict, max_length=20,  # type: ignore[valid-type]
                                           description="The rule's figures, e.g. {\"bought\": \"3\", \"limit\": \"2\"}.")
    held_at: UtcDatetime


class OrderReleased(Contract):
    """Support or admin released a held order; its `order.accepted` follows."""

    order_id: EntityId
    released_by: Subject = Field(description="Who released it (the signed-in subject).")  # type: ignore[valid-type]
    note: ShortText = ""  # type: ignore[valid-type]
    released_at: UtcDatetime


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
    awaiting_balance: bool = Field(default=False, description="A deposit presale's stock, held as presale quota: not "
                                                              "picked until `order.balance_received`.")
    parts: ShipmentParts = Field(
        default_factory=list,
        description="Where each part of the order is reserved, one shipment per part; together they hold every "
                    "line. Empty (senders before warehouses): the whole order from the `main` warehouse.")


class StockSkuUnknown(Contract):
    """An order names skus the catalogue does not know: nothing is reserved and nothing waits
    for them (not backordered); orders marks the order as needing attention."""

    order_id: EntityId
    skus: list[Sku] = Field(min_length=1, max_length=MAX_LINES_PER_ORDER)
    found_at: UtcDatetime


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
    warehouse: WarehouseId | None = Field(default=None, description="The warehouse whose stock fell low; absent: "
                                                                    "`main`.")


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
    warehouse: WarehouseId | None = Field(default=None, description="The warehouse that received it; absent: the "
                                                                    "sku's first warehouse (`main` with one).")


# ---------------------------------------------------------------------------------------------
# Logistics service: topic logistics.shipments; carriers: topic carrier.events


class ShipmentDispatched(Contract):
    order_id: EntityId
    shipment_id: DerivedId
    carrier: EntityId
    tracking_number: EntityId
    dispatched_at: UtcDatetime
    replacement_for_case: EntityId | None = Field(default=None, description="Set when this ships an exchange.")
    warehouse: WarehouseId | None = Field(default=None, description="The warehouse it left; absent: `main`.")
    lines: list[SkuQuantity] = Field(default_factory=list, max_length=MAX_LINES_PER_ORDER,
                                     description="What the parcel holds, when it is one part of a split order; "
                                                 "empty: the whole order.")
    order_complete: bool = Field(default=True, description="False while other parts of the order have still to "
                                                           "leave: the order is shipped with its last part.")


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


from shared.aftersales_events import (  # noqa: E402,F401 (re-exported; that module imports nothing from here)
    ExchangeRequested, RefundIssued, ReturnApproved, ReturnArrived, ReturnLine, ReturnLines, ReturnReceived,
    ReturnRejected, ReturnRequested,
)

from shared.traffic_events import TrafficCounted  # noqa: E402,F401 (re-exported; platform.traffic, issue 30)

"""The pieces the event contracts share: order lines, promotions, the priority classes and the
bounded text types. The field types (ids, skus, free text, quantities, amounts) and their
bounds are in shared/contract_types.py and shared/money.py; docs/events.md lists them under
Limits. shared/events.py re-exports all of it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from shared.contract_types import EntityId, LineQuantity, Sku, SkuUnits, Text
from shared.envelope import Contract
from shared.limits import MAX_LINE_QUANTITY, MAX_LINES_PER_ORDER, MAX_WAREHOUSES
from shared.money import Amount

PriorityClass = Literal["presale", "high_value", "standard"]
OrderType = Literal["standard", "presale"]

PRIORITY_CLASSES: tuple[str, ...] = ("presale", "high_value", "standard")
"""Dispatch order (R2, R13): presale first, then high-value, then standard."""


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


PromotionKind = Literal["spend_threshold", "returning_customer_threshold", "tiered_discount", "first_order_coupon",
                        "gift_with_purchase", "first_units_half_price"]
"""The kinds of promotion a Double-11 event runs (R5); the event's catalogue says which codes exist."""


class Promotion(Contract):
    """A promotion the platform applied; kept so returns can tell when a refund loses it (R5, R23)."""

    kind: PromotionKind
    code: Code | None = Field(default=None, description="The catalogue's code for it (`PUT /promotions`); orders "
                                                         "recomputes the discount from the catalogue by this code.")  # type: ignore[valid-type]
    threshold: Amount | None = Field(default=None, description="Spend threshold, e.g. 200.00 in '200 off 30'.")
    amount: Amount = Field(description="Discount this promotion gave, e.g. 30.00.")


class SkuQuantity(Contract):
    sku: Sku
    quantity: SkuUnits


# ---------------------------------------------------------------------------------------------
# Several warehouses (issue 34)

WarehouseId = EntityId
DEFAULT_WAREHOUSE = "main"
"""The warehouse of a platform that never named one: a catalogue without a `warehouse` column,
a `stock.reserved` without `parts`, a shipment from before warehouses existed."""

SplitPolicy = Literal["fewest_shipments", "fastest", "own_region"]
"""How an order no single warehouse can fill is split (R7 stays: every part reserved or none).
`fewest_shipments` (default): as few parts as possible, from any warehouse, the customer's
region's first; `fastest`: each line from the warehouse nearest the customer that has it, however
many parts that makes; `own_region`: only warehouses serving the customer's region (fewest parts
among them), else it waits for stock there."""

SPLIT_POLICIES: tuple[str, ...] = ("fewest_shipments", "fastest", "own_region")


class ShipmentPart(Contract):
    """What one warehouse ships of an order: one shipment in logistics."""

    warehouse: WarehouseId = Field(examples=["east"])
    lines: list[SkuQuantity] = Field(min_length=1, max_length=MAX_LINES_PER_ORDER)


ShipmentParts = Annotated[list[ShipmentPart], Field(max_length=MAX_WAREHOUSES)]

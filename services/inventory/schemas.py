"""The inventory's HTTP contract: request bodies and answers, as pydantic models (OpenAPI shows a
schema for each). Every quantity is a whole number (JSON integers only, never floats) from 0 to
MAX_STOCK_UNITS; times are tz-aware, written as ISO 8601 with their offset (`+00:00`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from services.inventory.catalog import BIN_PATTERN
from services.inventory.domain import MODES
from shared.contract_types import EntityId, Sku, Text
from shared.limits import MAX_STOCK_UNITS


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# isoformat(), not pydantic's `Z`: the answers keep the spelling clients have always read.
Moment = Annotated[AwareDatetime, PlainSerializer(_iso, return_type=str, when_used="json"),
                   WithJsonSchema({"type": "string", "format": "date-time"})]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def units(*, default: Any = ..., minimum: int = 0, description: str | None = None) -> Any:
    """A number of units: a JSON integer (no float, no string) from `minimum` to MAX_STOCK_UNITS."""
    return Field(default=default, strict=True, ge=minimum, le=MAX_STOCK_UNITS, description=description)


# ---------------------------------------------------------------------------------------------
# Requests


class SkuChange(Body):
    name: Text(200) | None = None  # type: ignore[valid-type]
    tier: str = Field(description="traffic_driver, profit or hot")
    planned_stock: int | None = units(default=None)
    forecast: int | None = units(default=None, description="Used when planned_stock is absent (R8).")
    on_hand: int | None = units(default=None, description="Opening stock; only when the sku is created.")
    threshold_percent: int | None = Field(default=None, strict=True, ge=0, le=100)
    mode: str | None = Field(default=None, description=" / ".join(MODES))
    bin: str | None = Field(default=None, max_length=32, pattern=f"^$|{BIN_PATTERN}",
                            description="Bin location, e.g. A-03-2 (letters, digits, . _ / -; at most 32). "
                                        "Absent: an edit keeps the bin; empty: no bin.")
    warehouse: EntityId | None = Field(default=None, description=(
        "The warehouse whose planned stock, threshold (and, for a sku new there, opening stock) this sets; "
        "absent: the sku's first warehouse (`main` for a new sku)."))


class SkuEdit(SkuChange):
    """A catalogue edit as the use case takes it: the body and the sku of its path."""

    sku: Sku


class CountLine(Body):
    sku: Sku
    quantity: int = units(description="Units counted on the shelf.")
    warehouse: EntityId | None = Field(default=None, description="Whose shelf; absent: the sku's first warehouse.")


class StockCount(Body):
    reference: EntityId | None = Field(default=None, description="Count id; generated when absent.")
    counts: list[CountLine] = Field(min_length=1)


class Delivery(Body):
    delivery_id: EntityId
    sku: Sku
    quantity: int = units(minimum=1)
    delivered_at: AwareDatetime | None = None
    warehouse: EntityId | None = Field(default=None, description="Where it arrived; absent: the sku's first "
                                                                  "warehouse.")


class WarehouseBody(Body):
    """PUT /warehouses/{id}: the whole warehouse (services/inventory/warehouses.py)."""

    id: EntityId | None = Field(default=None, description="Absent, or the id of the path.")
    name: Text(200) = ""  # type: ignore[valid-type]
    regions: list[str] = Field(max_length=64, description="Regions it serves, first preferred; \"*\": every region.")
    reaches: list[str] = Field(default_factory=list, max_length=64,
                               description="Other regions it can ship to, nearest first.")
    carriers: list[str] = Field(default_factory=list, max_length=32, description="Carrier codes (for the record).")
    pickers: int = Field(default=0, strict=True, ge=0, le=100_000)
    position: int | None = Field(default=None, strict=True, ge=0, le=1_000_000,
                                 description="Breaks ties, lowest first; absent: after the others (or kept).")


# ---------------------------------------------------------------------------------------------
# Answers


class OpenReplenishment(BaseModel):
    request_id: str
    quantity: int
    urgent: bool
    requested_at: Moment
    expires_at: Moment
    expired: bool = Field(description="Past its expiry by the service clock: a new request may go out")


class TransferBody(Body):
    """POST /transfers: move units of a sku between warehouses (admin confirms)."""

    transfer_id: EntityId
    sku: Sku
    quantity: int = units(minimum=1)
    from_: EntityId = Field(alias="from", description="The warehouse the units leave")
    to: EntityId = Field(description="The warehouse they go to")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TransferAnswer(BaseModel):
    transfer_id: str
    sku: str
    quantity: int
    from_: str = Field(serialization_alias="from")
    to: str
    status: str = Field(description="requested, in_transit (confirmed: reserved out of `from`) or received")
    requested_by: str
    requested_at: Moment
    confirmed_at: Moment | None
    received_at: Moment | None
    outcome: str | None = Field(default=None, description="created, confirmed, received or duplicate")


class TransferList(BaseModel):
    transfers: list[TransferAnswer]


class WarehouseStock(BaseModel):
    warehouse: str
    planned_stock: int
    on_hand: int
    reserved: int
    available: int
    threshold: int = Field(description="Available below this is low in this warehouse (R9)")
    low: bool
    open_request_id: str | None


class WarehouseAnswer(BaseModel):
    id: str
    name: str
    regions: list[str]
    reaches: list[str]
    carriers: list[str]
    pickers: int
    position: int


class WarehouseList(BaseModel):
    warehouses: list[WarehouseAnswer]


class WarehousePut(WarehouseAnswer):
    outcome: str = Field(description="created or updated")


class StockFigures(BaseModel):
    sku: str
    name: str
    bin: str | None = Field(default=None, description="Bin location in the warehouse (catalogue), e.g. A-03-2")
    tier: str
    planned_stock: int
    on_hand: int
    reserved: int
    available: int
    mode: str
    threshold: int = Field(description="Available below this is low (R9)")
    low: bool
    expected_date: Moment | None
    discount_percent: int | None
    discount_until: Moment | None
    waiting_orders: int = Field(description="Backordered orders that need this sku")
    open_replenishment: OpenReplenishment | None
    sell_rate_per_hour: float = Field(default=0.0, description=(
        "Units reserved per hour over the recent window (setting sell_rate_window_hours, 1 h), net of releases"))
    cover_hours: float | None = Field(default=None, description=(
        "Hours the available units last at the sell rate; null when nothing sells"))
    warehouses: list[WarehouseStock] = Field(default_factory=list, description=(
        "The figures per warehouse (the sku's figures above are their sums)"))


class SkuAnswer(StockFigures):
    outcome: str = Field(description="created or updated")


class DeliveryAnswer(StockFigures):
    delivery_id: str
    outcome: str = Field(description="received, or duplicate for a delivery id booked before")


class StockPage(BaseModel):
    as_of: Moment
    skus: list[StockFigures]
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last page")


class LedgerEntry(BaseModel):
    cause: str
    on_hand_delta: int
    reserved_delta: int
    reference: str
    actor: str = Field(description="Who caused it: http:<subject>(<roles>), kafka:<topic>(source=...), "
                                   "catalog:<file>; '' before the column existed")
    at: Moment
    warehouse: str = Field(default="main", description="The warehouse whose figures it changed")


class LedgerPage(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int
    ledger_on_hand: int = Field(description="On hand as all the ledger's entries explain it")
    ledger_reserved: int
    consistent: bool = Field(description="The whole ledger explains the current figures")
    entries: list[LedgerEntry] = Field(description="This page of entries, oldest first")
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last page")


class CountLineReport(BaseModel):
    sku: str
    recorded_on_hand: int
    ledger_on_hand: int
    counted: int
    difference: int
    adjusted: bool


class CountAnswer(BaseModel):
    reference: str
    lines: list[CountLineReport]


class ReservationAnswer(BaseModel):
    order_id: str
    status: str = Field(description="reserved, backordered, released, cancelled, shipped or "
                                    "sku_unknown (refused: a sku the catalogue lacks; nothing waits)")
    priority_rank: str
    presale: bool
    awaiting_balance: bool = Field(description="A deposit presale's stock, held (reserved) until its balance is paid")
    needs: dict[str, int]
    updated_at: Moment
    parts: list[dict[str, Any]] = Field(default_factory=list, description=(
        "Where its units are reserved: warehouse, sku, quantity, state (reserved, released, shipped)"))

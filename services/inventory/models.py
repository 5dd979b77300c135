"""Tables of the inventory service. Names start with `inventory_`: every service's tables share
SQLModel's metadata in one test process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from shared.idempotency import IDEMPOTENCY_TABLE


def utc_column(*, nullable: bool = True, index: bool = False) -> Column:
    # SQLModel's UTCDateTime: aware values in, aware UTC values out, also on SQLite.
    return Column(UTCDateTime(), nullable=nullable, index=index)


class InventorySku(SQLModel, table=True):
    """One sku's catalog entry and stock figures. `available` is stored (not derived) so that a
    reservation is one conditional UPDATE ... WHERE available >= qty; the CHECK constraints make
    the database refuse any figure that would oversell."""

    __tablename__ = "inventory_sku"
    __table_args__ = (
        CheckConstraint("available >= 0", name="ck_inventory_sku_available_not_negative"),
        CheckConstraint("reserved >= 0", name="ck_inventory_sku_reserved_not_negative"),
        CheckConstraint("reserved + available = on_hand", name="ck_inventory_sku_balance"),
    )

    sku: str = Field(primary_key=True, max_length=64)
    name: str = ""
    bin: str | None = Field(default=None, max_length=32)  # bin location, e.g. A-03-2 (catalogue)
    tier: str
    planned_stock: int
    on_hand: int
    reserved: int = 0
    available: int
    mode: str = "in_stock"
    threshold_percent: int | None = None  # None: the service default (20%)
    expected_date: datetime | None = Field(default=None, sa_column=utc_column())
    discount_percent: int | None = None
    discount_until: datetime | None = Field(default=None, sa_column=utc_column())
    open_request_id: str | None = None
    open_request_urgent: bool | None = None
    open_request_expires_at: datetime | None = Field(default=None, sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class InventoryWarehouse(SQLModel, table=True):
    """A warehouse (issue 34, services/inventory/warehouses.py): the regions it serves (in order of
    preference) and reaches (nearest first), its carriers and pickers, as JSON lists of names."""

    __tablename__ = "inventory_warehouse"

    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    regions_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    reaches_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    carriers_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    pickers: int = 0
    position: int = 0
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class InventoryStock(SQLModel, table=True):
    """One sku's figures in one warehouse, its planned stock and threshold there, and the open
    replenishment request of that warehouse (R9 per warehouse). `inventory_sku` keeps the sums
    over the sku's warehouses, updated in the same transaction (store/stock.py)."""

    __tablename__ = "inventory_stock"
    __table_args__ = (
        CheckConstraint("available >= 0", name="ck_inventory_stock_available_not_negative"),
        CheckConstraint("reserved >= 0", name="ck_inventory_stock_reserved_not_negative"),
        CheckConstraint("reserved + available = on_hand", name="ck_inventory_stock_balance"),
    )

    sku: str = Field(primary_key=True, max_length=64)
    warehouse: str = Field(primary_key=True, max_length=64)
    planned_stock: int
    on_hand: int
    reserved: int = 0
    available: int
    threshold_percent: int | None = None  # None: the service default (20%)
    open_request_id: str | None = None
    open_request_urgent: bool | None = None
    open_request_expires_at: datetime | None = Field(default=None, sa_column=utc_column())


class InventoryAllocation(SQLModel, table=True):
    """Where an order's units were reserved: one row per (warehouse, sku). `state`: reserved,
    released (cancelled) or shipped (its part left). Release, ship-out and restock read it."""

    __tablename__ = "inventory_allocation"
    __table_args__ = (UniqueConstraint("order_id", "warehouse", "sku", name="ux_inventory_allocation_order_part"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    warehouse: str
    sku: str
    quantity: int
    state: str = "reserved"


class InventoryTransfer(SQLModel, table=True):
    """Goods moved between warehouses: requested, confirmed (reserved out of `from_warehouse`,
    in transit) and received (out of `from_warehouse`'s on hand, into `to_warehouse`'s)."""

    __tablename__ = "inventory_transfer"

    transfer_id: str = Field(primary_key=True, max_length=64)
    sku: str = Field(max_length=64)
    quantity: int
    from_warehouse: str = Field(max_length=64)
    to_warehouse: str = Field(max_length=64)
    status: str = "requested"
    requested_by: str = ""
    requested_at: datetime = Field(sa_column=utc_column(nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=utc_column())
    received_at: datetime | None = Field(default=None, sa_column=utc_column())


class InventoryReservation(SQLModel, table=True):
    """One order's outcome: reserved, backordered (waiting), released or cancelled."""

    __tablename__ = "inventory_reservation"

    order_id: str = Field(primary_key=True)
    status: str = Field(index=True)
    order_type: str = "standard"
    priority_class: str = "standard"
    priority_rank: str = ""
    region: str = ""
    paid_at: datetime | None = Field(default=None, sa_column=utc_column())
    lines_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    needs_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    presale: bool = False
    # A deposit presale's order (order.accepted with balance_due_by): its stock is held as presale
    # quota (reserved like any order's) and its stock.reserved says it awaits the balance.
    awaiting_balance: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    split_policy: str = Field(default="fewest_shipments", sa_column_kwargs={"server_default": "fewest_shipments"})
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class InventoryBackorderLine(SQLModel, table=True):
    """The waiting queue: one row per sku of a backordered order, deleted when it is filled or
    cancelled. `warehouse`: the order's home warehouse (its region's first), where it holds its
    place in line (the protection rule). The (sku, warehouse, priority_rank, quantity) index
    answers "how many units do orders ahead in line hold here" from the index alone."""

    __tablename__ = "inventory_backorder_line"
    __table_args__ = (Index("ix_inventory_backorder_line_sku_wh_rank", "sku", "warehouse", "priority_rank",
                            "quantity"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    sku: str
    quantity: int
    priority_rank: str
    warehouse: str = Field(default="main", sa_column_kwargs={"server_default": "main"})


class InventoryLedgerEntry(SQLModel, table=True):
    """Every change to a sku's figures with its cause, so they can always be explained (R12)."""

    __tablename__ = "inventory_ledger_entry"
    # The sell rate (store/snapshots.py) sums a page of skus' recent reservations: (sku, at) finds
    # each sku's last hour without reading its whole history, and with cause and reserved_delta
    # in the index too the sum never visits the table (500 skus over 300,000 lines: 30 ms, not 350).
    __table_args__ = (Index("ix_inventory_ledger_entry_sku_at", "sku", "at", "cause", "reserved_delta"),)

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(index=True)
    cause: str  # initial_stock, reservation, release, delivery, return, count_adjustment, dispatch
    on_hand_delta: int = 0
    reserved_delta: int = 0
    reference: str = ""
    at: datetime = Field(sa_column=utc_column(nullable=False))
    # Who caused it: `http:<subject>(<roles>)`, `kafka:<topic>(source=<event source>)` or
    # `catalog:<file>`; '' for entries written before the column existed (R3 audit trail).
    actor: str = Field(default="", sa_column_kwargs={"server_default": ""})
    warehouse: str = Field(default="main", sa_column_kwargs={"server_default": "main"})


class InventoryDelivery(SQLModel, table=True):
    """Supplier deliveries received; the id makes a delivery count once, by event or by HTTP."""

    __tablename__ = "inventory_delivery"

    delivery_id: str = Field(primary_key=True)
    sku: str = Field(index=True)
    quantity: int
    delivered_at: datetime = Field(sa_column=utc_column(nullable=False))
    warehouse: str = Field(default="main", sa_column_kwargs={"server_default": "main"})
    received_at: datetime = Field(sa_column=utc_column(nullable=False))


class InventoryRestock(SQLModel, table=True):
    """Returns already handled, so a case restocks once."""

    __tablename__ = "inventory_restock"

    case_id: str = Field(primary_key=True)
    order_id: str
    restocked: bool
    at: datetime = Field(sa_column=utc_column(nullable=False))


class InventoryReplenishmentRequest(SQLModel, table=True):
    __tablename__ = "inventory_replenishment_request"

    request_id: str = Field(primary_key=True)
    sku: str = Field(index=True)
    quantity: int
    urgent: bool
    reason: str
    requested_at: datetime = Field(sa_column=utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=utc_column(nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column())
    closed_by: str | None = None
    warehouse: str = Field(default="main", sa_column_kwargs={"server_default": "main"})


class InventoryStockSnapshot(SQLModel, table=True):
    """Every sku's figures as they stood once per period (R12: every 2 hours during the event).
    `slot_start` is unique: two instances checking at once take one snapshot of a slot."""

    __tablename__ = "inventory_stock_snapshot"
    __table_args__ = (Index("ux_inventory_stock_snapshot_slot", "slot_start", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    slot_start: datetime = Field(sa_column=utc_column(nullable=False))
    taken_at: datetime = Field(sa_column=utc_column(nullable=False))
    period_s: int
    sku_count: int


class InventoryStockSnapshotRow(SQLModel, table=True):
    """One sku's figures in a snapshot."""

    __tablename__ = "inventory_stock_snapshot_row"
    __table_args__ = (Index("ix_inventory_stock_snapshot_row_snapshot_sku", "snapshot_id", "sku", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int
    sku: str = Field(max_length=64)
    name: str = ""
    on_hand: int
    reserved: int
    available: int
    mode: str
    sell_rate_per_hour: float
    cover_hours: float | None = None
    replenishment_request_id: str | None = None
    replenishment_quantity: int | None = None


TABLES = [
    InventorySku.__table__, InventoryReservation.__table__, InventoryBackorderLine.__table__,
    InventoryLedgerEntry.__table__, InventoryDelivery.__table__, InventoryRestock.__table__,
    InventoryReplenishmentRequest.__table__, IDEMPOTENCY_TABLE,
    InventoryStockSnapshot.__table__, InventoryStockSnapshotRow.__table__,
    InventoryWarehouse.__table__, InventoryStock.__table__, InventoryAllocation.__table__,
    InventoryTransfer.__table__,
]

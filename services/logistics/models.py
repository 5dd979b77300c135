"""Tables of the logistics service. Table names are unique across services (shared metadata)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Numeric, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from shared.event_parts import DEFAULT_WAREHOUSE
from shared.idempotency import IDEMPOTENCY_TABLE

# `datetime` fields are stored by SQLModel's UTCDateTime: aware values in, aware UTC values out
# (SQLite keeps them as UTC text, so comparisons in queries stay correct).


UNSHIPPED_COUNTED = "shipped_at IS NULL AND replacement_for_case IS NULL AND withdrawn_at IS NULL"
"""Shipments the SLA still waits for (a deposit presale awaiting its balance is left out by the
queries' own `status` term, which the partial indexes carry as a column)."""


class Shipment(SQLModel, table=True):
    """One parcel to ship: an order's (from stock.reserved) or an exchange's replacement."""

    __tablename__ = "logistics_shipment"
    __table_args__ = (
        UniqueConstraint("carrier", "tracking_number", name="uq_logistics_shipment_tracking"),
        # The read paths of a peak (docs/logistics.md "Indexes"): the queue and waves in dispatch
        # order, and the SLA's late counts and at-risk list over unshipped counted shipments only.
        # The queue and waves are one warehouse's (issue 34): `warehouse` right after `status`.
        Index("ix_logistics_shipment_dispatch_order", "status", "warehouse", "class_order", "deadline_24h",
              "priority_rank", "shipment_id"),
        # `order_id` counts an order of several parts once, `warehouse` serves the per-warehouse
        # figures, both without reading the rows.
        Index("ix_logistics_shipment_unshipped_paid", "paid_at", "priority_class", "status", "order_id", "warehouse",
              sqlite_where=text(UNSHIPPED_COUNTED), postgresql_where=text(UNSHIPPED_COUNTED)),
        Index("ix_logistics_shipment_unshipped_deadline", "deadline_24h", "class_order", "order_id", "status",
              "warehouse", sqlite_where=text(UNSHIPPED_COUNTED), postgresql_where=text(UNSHIPPED_COUNTED)),
        # The war room's series count paid and shipped orders per minute or hour from these two
        # alone (every column their conditions read). Only shipped rows in the second: an index
        # holding every NULL tempted SQLite (no statistics) into reading all unshipped shipments
        # for `shipped_at IS NULL`.
        # `order_parts`: a whole order's shipment counts as its order without a look at other parts.
        Index("ix_logistics_shipment_paid_counted", "paid_at", "status", "replacement_for_case", "withdrawn_at",
              "order_parts"),
        Index("ix_logistics_shipment_shipped_at", "shipped_at", "deadline_24h", "deadline_48h", "status",
              "replacement_for_case", "withdrawn_at", "order_parts",
              sqlite_where=text("shipped_at IS NOT NULL"), postgresql_where=text("shipped_at IS NOT NULL")),
        Index("ix_logistics_shipment_replacement_for_case", "replacement_for_case",
              sqlite_where=text("replacement_for_case IS NOT NULL"),
              postgresql_where=text("replacement_for_case IS NOT NULL")),
    )

    shipment_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    replacement_for_case: str | None = None
    order_type: str
    priority_class: str
    class_order: int  # 0 presale, 1 high_value, 2 standard: the wave sort
    priority_rank: str
    region: str
    # The warehouse it leaves from, and how many parts (shipments) its order was split into
    # (issue 34; 1: the whole order, as before warehouses).
    warehouse: str = Field(default=DEFAULT_WAREHOUSE, sa_column_kwargs={"server_default": DEFAULT_WAREHOUSE})
    order_parts: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    lines_json: str = Field(sa_column=Column(Text, nullable=False))
    weight_kg: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    volume_l: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    paid_at: datetime
    deadline_24h: datetime = Field(index=True)
    deadline_48h: datetime
    created_at: datetime
    status: str
    wave_id: str | None = Field(default=None, index=True)
    picker_id: str | None = None
    claimed_until: datetime | None = None
    packed_at: datetime | None = None
    packed_by: str | None = None
    carrier: str | None = None
    tracking_number: str | None = Field(default=None, index=True)  # GET /shipments?tracking_number=
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None
    # A deposit presale's (presale.py): when the deposit was paid, and when the balance was (then
    # also `paid_at`, which the 24h/48h clock counts from).
    deposit_paid_at: datetime | None = None
    balance_paid_at: datetime | None = None


class SlaPaidHour(SQLModel, table=True):
    """Running totals per priority class and hour of payment (sla_tally.py): the SLA figures
    read these instead of every shipment. An order counts once, shipped with its last part."""

    __tablename__ = "logistics_sla_paid_hour"

    priority_class: str = Field(primary_key=True)
    paid_hour: datetime = Field(primary_key=True)
    paid: int = 0
    shipped: int = 0
    shipped_within_24h: int = 0
    shipped_within_48h: int = 0


class SlaShippedHour(SQLModel, table=True):
    """Shipments handed over per priority class and hour (the dispatch speed), kept with the above."""

    __tablename__ = "logistics_sla_shipped_hour"

    priority_class: str = Field(primary_key=True)
    shipped_hour: datetime = Field(primary_key=True)
    dispatched: int = 0


class SlaWarehousePaidHour(SQLModel, table=True):
    """SlaPaidHour per warehouse, where each part of an order counts by its own hand-over."""

    __tablename__ = "logistics_sla_warehouse_paid_hour"

    warehouse: str = Field(primary_key=True)
    priority_class: str = Field(primary_key=True)
    paid_hour: datetime = Field(primary_key=True)
    paid: int = 0
    shipped: int = 0
    shipped_within_24h: int = 0
    shipped_within_48h: int = 0


class SlaWarehouseShippedHour(SQLModel, table=True):
    """SlaShippedHour per warehouse: parts handed over there per class and hour."""

    __tablename__ = "logistics_sla_warehouse_shipped_hour"

    warehouse: str = Field(primary_key=True)
    priority_class: str = Field(primary_key=True)
    shipped_hour: datetime = Field(primary_key=True)
    dispatched: int = 0


class PickWave(SQLModel, table=True):
    __tablename__ = "logistics_pick_wave"

    wave_id: str = Field(primary_key=True)
    picker_id: str = Field(index=True)
    warehouse: str = Field(default=DEFAULT_WAREHOUSE, sa_column_kwargs={"server_default": DEFAULT_WAREHOUSE})
    requested_size: int
    claimed: int
    created_at: datetime
    lease_until: datetime


class ShipmentIncident(SQLModel, table=True):
    """An exception reported on a shipment (R17): delayed, damaged or lost."""

    __tablename__ = "logistics_shipment_incident"

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: str = Field(index=True)
    kind: str
    note: str = ""
    reported_by: str | None = None
    reported_at: datetime
    # The customer.notification_requested event asked for with it (its outbox row says whether
    # it was published); None for exceptions recorded before notifications existed.
    notification_event_id: str | None = None


class CarrierDayLoad(SQLModel, table=True):
    """Parcels handed to a carrier on one warehouse day; the conditional increment is what
    enforces the daily capacity, even for two hand-overs at the same moment."""

    __tablename__ = "logistics_carrier_day_load"

    carrier: str = Field(primary_key=True)
    day: str = Field(primary_key=True)  # ISO date of the warehouse's local day
    used: int = 0


class OrderWithdrawal(SQLModel, table=True):
    """A cancellation seen for an order, kept so a stock.reserved arriving after it (events on
    different topics have no order between them) does not queue a shipment for it."""

    __tablename__ = "logistics_order_withdrawal"

    order_id: str = Field(primary_key=True)
    reason: str = ""
    cancelled_at: datetime


class EarlyCarrierDelivery(SQLModel, table=True):
    """A carrier's delivery confirmation for a tracking number not handed over here yet
    (the hand-over scan may be recorded late); applied when that hand-over is recorded."""

    __tablename__ = "logistics_early_carrier_delivery"

    carrier: str = Field(primary_key=True)
    tracking_number: str = Field(primary_key=True)
    delivered_at: datetime


class OrderBalance(SQLModel, table=True):
    """A deposit presale's balance received (the first one), kept so a stock.reserved arriving
    after it (different topics) queues the shipment at once, from the balance's payment."""

    __tablename__ = "logistics_order_balance"

    order_id: str = Field(primary_key=True)
    balance_paid_at: datetime
    priority_rank: str  # as the event gave it; presale.rank_after_balance decides whether it ranks
    received_at: datetime


class EventPlan(SQLModel, table=True):
    """The event's plan as an admin last put it (PUT /plan); one row. Absent: the file's, if any."""

    __tablename__ = "logistics_event_plan"

    plan_key: str = Field(primary_key=True)  # always "current"
    name: str
    body_json: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime
    loaded_by: str | None = None


class CarrierBooking(SQLModel, table=True):
    """Capacity booked with a carrier for one warehouse day (R15): proposed from the forecast,
    confirmed by an admin; a confirmed one replaces the table's daily capacity that day, and a
    later confirmation for the same carrier and day supersedes it."""

    __tablename__ = "logistics_carrier_booking"

    booking_id: str = Field(primary_key=True)
    carrier: str = Field(index=True)
    day: str = Field(index=True)  # ISO date of the warehouse's local day
    parcels: int
    status: str = Field(index=True)  # proposed, confirmed, superseded
    proposed_at: datetime
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None


TABLES = [Shipment.__table__, PickWave.__table__, ShipmentIncident.__table__, CarrierDayLoad.__table__,
          OrderWithdrawal.__table__, EarlyCarrierDelivery.__table__, IDEMPOTENCY_TABLE, OrderBalance.__table__,
          SlaPaidHour.__table__, SlaShippedHour.__table__, SlaWarehousePaidHour.__table__,
          SlaWarehouseShippedHour.__table__,
          EventPlan.__table__, CarrierBooking.__table__]

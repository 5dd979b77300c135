"""Tables of the orders service (names prefixed `order_` so they never clash with other services')."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, Numeric, Text
from sqlmodel import Field, SQLModel

from shared.idempotency import IDEMPOTENCY_TABLE


class OrderRecord(SQLModel, table=True):
    __tablename__ = "order_record"
    __table_args__ = (
        Index("ix_order_record_status_rank", "status", "priority_rank"),
        # GET /stats (GMV by class and state) sums from this index alone, not from the wide rows.
        Index("ix_order_record_totals", "priority_class", "status", "paid_cents", "refunded_cents"),
    )

    order_id: str = Field(primary_key=True)
    customer_id: str = Field(index=True)
    order_type: str
    priority_class: str
    priority_rank: str = Field(index=True, unique=True)
    status: str = Field(index=True)
    paid_amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    # The same amount in whole cents: SQL sums over it stay exact on SQLite (GMV, R26).
    paid_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    discount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str
    region: str
    paid_at: datetime
    accepted_at: datetime
    status_changed_at: datetime
    # The accepted order exactly as accepted (canonical JSON); compared with re-sends to tell a
    # harmless duplicate from a tampering attempt (R3). Never updated.
    content_json: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str
    # Refunds applied so far, in whole cents: all refunds together never exceed paid_cents.
    refunded_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class OrderStep(SQLModel, table=True):
    """The timeline: every lifecycle event seen for an order, applied or not."""

    __tablename__ = "order_step"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    status: str  # the step this event stands for (or the event type for notes)
    outcome: str = "advanced"  # advanced | late | noted | refused
    at: datetime  # when it happened, by the sender's account
    recorded_at: datetime | None = None
    event_type: str | None = None
    event_id: str | None = None
    # Who caused it (R3 audit trail): `http:<subject>(<roles>)` for a signed-in caller, also for an
    # order placed over HTTP; `kafka:<topic> (source: <what the sender claims>)` for an event.
    actor: str = ""
    note: str = ""


class OrderParkedEvent(SQLModel, table=True):
    """A lifecycle event for an order not accepted yet; applied when the order is accepted, so an
    event that overtook its order is neither lost nor dead-lettered."""

    __tablename__ = "order_parked_event"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    event_id: str
    event_type: str
    topic: str
    payload_json: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime
    parked_at: datetime
    actor: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # the event's, kept for its step


class OrderSubmission(SQLModel, table=True):
    """An order.placed this service wrote to its own outbox for an HTTP caller (POST /orders). When
    the event comes back from platform.orders, its id, order id and content found here are what
    lets the placement step name the caller: a Kafka sender can claim any `source`, not this row."""

    __tablename__ = "order_submission"

    event_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    content_hash: str
    actor: str
    submitted_at: datetime


class OrderConflict(SQLModel, table=True):
    """A re-send of an accepted order with different content, refused and kept for operators (R3)."""

    __tablename__ = "order_conflict"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    channel: str  # kafka | http
    event_id: str | None = None
    source: str | None = None
    differences: str = Field(sa_column=Column(Text, nullable=False))
    content_json: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime


class OrderRejection(SQLModel, table=True):
    """An order.placed refused by validation; the original is on the dead-letter topic."""

    __tablename__ = "order_rejection"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str | None = Field(default=None, index=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    event_id: str | None = None
    rejected_at: datetime


class OrderPresale(SQLModel, table=True):
    """A deposit presale's terms, fixed when its deposit was accepted (services/orders/presale.py),
    and its balance once received. One row per deposit order; none for any other order."""

    __tablename__ = "order_presale"

    order_id: str = Field(primary_key=True)
    deposit: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    deposit_paid_at: datetime
    price: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))  # lines less discount
    expansion: Decimal = Field(sa_column=Column(Numeric(8, 2), nullable=False))
    deposit_value: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))  # deposit x expansion
    balance_due: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))  # what the balance must be
    balance_due_by: datetime
    # balance_due_by plus the grace for payments in flight: the window job closes the order after it.
    closes_at: datetime = Field(index=True)
    balance_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    balance_paid_at: datetime | None = None
    balance_event_id: str | None = None
    balance_received_at: datetime | None = None
    closed_at: datetime | None = None  # closed balance_unpaid


TABLES = [OrderRecord.__table__, OrderStep.__table__, OrderParkedEvent.__table__, OrderConflict.__table__,
          OrderRejection.__table__, OrderSubmission.__table__, IDEMPOTENCY_TABLE, OrderPresale.__table__]

from services.orders.models_holds import HOLD_TABLES  # noqa: E402 (the abuse guard's tables, R6)

TABLES += HOLD_TABLES


# ---------------------------------------------------------------------------------------------
# Promotions (R5): services/orders/promotions.py, store/promotions.py


class OrderPromotionCatalogue(SQLModel, table=True):
    """The event's promotion catalogue: one row (id 1) once set by PUT /promotions or the start-up
    file, read by every instance; no row means promotions are not checked."""

    __tablename__ = "order_promotion_catalogue"

    id: int = Field(primary_key=True)
    body_json: str = Field(sa_column=Column(Text, nullable=False))
    digest: str  # SHA-256 of body_json: instances cache the parsed catalogue by it
    source: str  # `file:<path>` or `http`
    set_by: str
    set_at: datetime


class OrderCouponUse(SQLModel, table=True):
    """A first-order coupon a customer used: the key makes it once per customer, whichever
    instance accepts the order (the database decides between two at once)."""

    __tablename__ = "order_coupon_use"

    customer_id: str = Field(primary_key=True)
    code: str = Field(primary_key=True)
    order_id: str
    used_at: datetime


class OrderHalfPriceCount(SQLModel, table=True):
    """Units a first-N-half-price offer has sold across the event's accepted orders."""

    __tablename__ = "order_half_price_count"

    code: str = Field(primary_key=True)
    sold: int = Field(sa_column=Column(BigInteger, nullable=False))


TABLES += [OrderPromotionCatalogue.__table__, OrderCouponUse.__table__, OrderHalfPriceCount.__table__]

from services.orders.models_traffic import TRAFFIC_TABLES  # noqa: E402 (traffic for conversion, issue 30)

TABLES += TRAFFIC_TABLES
# The war room's series group orders by when they were paid, over a range of time: an index on
# paid_at keeps that to the range's rows instead of every order.
Index("ix_order_record_paid_at", OrderRecord.__table__.c.paid_at)

"""The statements of deposit presales (services/orders/presale.py): a deposit's terms, its balance,
the orders whose balance window has closed. Not on the hot path (presale deposits are a few
orders, each written twice), so plain SQLAlchemy Core statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update
from sqlmodel import Session

from services.orders.models import OrderPresale, OrderRecord, OrderStep
from services.orders.presale import AWAITING_BALANCE, BalanceDue, DepositFacts
from shared.deferred import pending_rows

_PRESALE = OrderPresale.__table__
_RECORDS = OrderRecord.__table__
_STEPS = OrderStep.__table__
STOCK_EVENTS = ("stock.reserved", "stock.backordered", "stock.released")


def _utc(moment: datetime | None) -> datetime | None:
    # Every time stored is UTC; a driver may hand one back naive.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def add_terms(session: Session, *, order_id: str, deposit: Decimal, deposit_paid_at: datetime, due: BalanceDue) -> None:
    """The deposit's terms as accepted; a plain INSERT, read back in the same transaction by a
    balance parked for this order."""
    session.execute(insert(_PRESALE).values(
        order_id=order_id, deposit=deposit, deposit_paid_at=deposit_paid_at, price=due.price, expansion=due.expansion,
        deposit_value=due.deposit_value, balance_due=due.balance, balance_due_by=due.due_by, closes_at=due.closes_at))


def facts(session: Session, order_id: str) -> DepositFacts | None:
    """The order's deposit terms and balance, None when it is not a deposit presale."""
    row = session.execute(select(_PRESALE).where(_PRESALE.c.order_id == order_id)).one_or_none()
    if row is None:
        return None
    return DepositFacts(deposit=row.deposit, deposit_paid_at=_utc(row.deposit_paid_at), price=row.price,  # type: ignore[arg-type]
                        expansion=row.expansion, deposit_value=row.deposit_value, balance_due=row.balance_due,
                        due_by=_utc(row.balance_due_by), closes_at=_utc(row.closes_at),  # type: ignore[arg-type]
                        balance_amount=row.balance_amount, balance_paid_at=_utc(row.balance_paid_at))


def order_facts(session: Session, order_id: str) -> Any:
    """`order_type`, `customer_id`, `priority_rank`, `paid_amount` of an accepted order (None if unknown)."""
    return session.execute(select(_RECORDS.c.order_type, _RECORDS.c.customer_id, _RECORDS.c.priority_rank,
                                  _RECORDS.c.paid_amount).where(_RECORDS.c.order_id == order_id)).one_or_none()


def stock_events(session: Session, order_id: str) -> list[str]:
    """What inventory reported about the order so far, in the order it happened: the timeline's
    stock steps, with those this transaction has not written yet (a parked one applied with it)."""
    written = session.execute(select(_STEPS.c.event_type, _STEPS.c.at, _STEPS.c.id)
                              .where(_STEPS.c.order_id == order_id, _STEPS.c.event_type.in_(STOCK_EVENTS))).all()
    found = [(_utc(r.at), 0, r.id, r.event_type) for r in written]
    found += [(_utc(r["at"]), 1, i, r["event_type"]) for i, r in enumerate(pending_rows(session, _STEPS))
              if r["order_id"] == order_id and r["event_type"] in STOCK_EVENTS]
    return [event_type for *_, event_type in sorted(found)]


def record_balance(session: Session, order_id: str, *, amount: Decimal, paid_at: datetime, event_id: str | None,
                   now: datetime) -> None:
    session.execute(update(_PRESALE).where(_PRESALE.c.order_id == order_id).values(
        balance_amount=amount, balance_paid_at=paid_at, balance_event_id=event_id, balance_received_at=now))


def settle_order(session: Session, order_id: str, *, status: str, priority_rank: str, paid_amount: Decimal,
                 now: datetime) -> None:
    """The order once its balance is paid: its state, its rank by the balance time, and what was
    paid in all (what refunds are bounded by, R23)."""
    session.execute(update(_RECORDS).where(_RECORDS.c.order_id == order_id).values(
        status=status, priority_rank=priority_rank, paid_amount=paid_amount, paid_cents=int(paid_amount * 100),
        status_changed_at=now))


def mark_closed(session: Session, order_id: str, now: datetime) -> None:
    session.execute(update(_PRESALE).where(_PRESALE.c.order_id == order_id).values(closed_at=now))


class Overdue(NamedTuple):
    order_id: str
    customer_id: str
    status: str
    deposit: Decimal
    balance_due_by: datetime
    closes_at: datetime


def overdue(session: Session, now: datetime, limit: int) -> Sequence[Overdue]:
    """Up to `limit` orders still awaiting their balance after their window (and its grace),
    oldest window first: `order_id`, `customer_id`, `deposit`, `balance_due_by`, `closes_at`.

    Their rows are locked for the caller's transaction; on PostgreSQL rows another transaction
    holds (another instance's window job, a balance being received) are skipped, and a row whose
    status changed while waiting for its lock is not returned, so no two instances close the same
    order. SQLite serialises writers (BEGIN IMMEDIATE)."""
    query = (select(_PRESALE.c.order_id, _RECORDS.c.customer_id, _RECORDS.c.status, _PRESALE.c.deposit,
                    _PRESALE.c.balance_due_by, _PRESALE.c.closes_at)
             .join(_RECORDS, _RECORDS.c.order_id == _PRESALE.c.order_id)
             .where(_RECORDS.c.status == AWAITING_BALANCE, _PRESALE.c.closes_at < now)
             .order_by(_PRESALE.c.closes_at, _PRESALE.c.order_id).limit(limit)
             .with_for_update(of=_RECORDS, skip_locked=True))
    rows = session.execute(query).all()
    return [Overdue(row.order_id, row.customer_id, row.status, row.deposit, _utc(row.balance_due_by),  # type: ignore[arg-type]
                    _utc(row.closes_at)) for row in rows]


def view(session: Session, order_id: str) -> OrderPresale | None:
    """The row as it is, for GET /orders/{id}."""
    return session.get(OrderPresale, order_id)

"""Orders' reservations and the waiting queue, and the business keys that make a delivery or a
return count once. Reservations are read and written as plain rows (Core), never ORM objects, so
no stale copy in a session's identity map can hide what an earlier event of the batch wrote."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlmodel import Session, select

from services.inventory.domain import SkuView
from services.inventory.models import InventoryBackorderLine, InventoryDelivery, InventoryReservation, InventoryRestock
from services.inventory.reservation import BACKORDERED, CANCELLED
from services.inventory.store.stock import SKUS, STOCK, sku_view
from shared.events import OrderAccepted, order_lines_json
from shared.fastsql import FastStatement

_LINES = InventoryBackorderLine.__table__
_RESERVATIONS = InventoryReservation.__table__
# The skus an incoming order wants, per warehouse, with the units waiting orders ranked ahead of
# it hold there (the protection rule: a waiting order holds its place in its home warehouse):
# one statement, since every order asks both (the index on (sku, warehouse, rank, quantity)
# answers the sum from the index alone).
_AHEAD_OF_RANK = (select(func.coalesce(func.sum(_LINES.c.quantity), 0))
                  .where(_LINES.c.sku == STOCK.c.sku, _LINES.c.warehouse == STOCK.c.warehouse,
                         _LINES.c.priority_rank < bindparam("rank"))
                  .scalar_subquery())
# ... and whether the order was decided before (its reservation row's status, else NULL), the
# first thing every order asks: one statement fewer per order than asking it alone.
_DECIDED_STATUS = (select(_RESERVATIONS.c.status).where(_RESERVATIONS.c.order_id == bindparam("oid"))
                   .scalar_subquery())
_LOAD_STOCK_AND_AHEAD = FastStatement(select(
    SKUS.c.sku, SKUS.c.available, SKUS.c.mode, SKUS.c.expected_date, STOCK.c.warehouse,
    STOCK.c.available.label("here"), _AHEAD_OF_RANK.label("units_ahead"), _DECIDED_STATUS.label("decided_status"),
).select_from(STOCK.join(SKUS, STOCK.c.sku == SKUS.c.sku)).where(STOCK.c.sku.in_(bindparam("skus", expanding=True))))


@dataclass(frozen=True)
class OrderOutlook:
    """What an incoming order's decision starts from."""

    decided: bool  # a reservation row exists: reserved, backordered, or cancelled before it came
    stock: dict[str, SkuView]  # the skus' total figures and mode; unknown skus are left out
    available: dict[str, dict[str, int]]  # warehouse -> sku -> available there
    ahead: dict[str, dict[str, int]]  # warehouse -> sku -> units waiting orders ranked ahead hold there


def order_outlook(session: Session, order_id: str, skus: Iterable[str], rank: str) -> OrderOutlook:
    wanted = sorted(set(skus))
    rows = (_LOAD_STOCK_AND_AHEAD.execute(session, {"skus": wanted, "rank": rank, "oid": order_id}).all()
            if wanted else [])
    if not rows:  # no sku of the order is known (or no lines): the status needs its own look
        return OrderOutlook(decided=is_decided(session, order_id), stock={}, available={}, ahead={})
    available: dict[str, dict[str, int]] = {}
    ahead: dict[str, dict[str, int]] = {}
    for row in rows:
        available.setdefault(row.warehouse, {})[row.sku] = row.here
        if row.units_ahead:
            ahead.setdefault(row.warehouse, {})[row.sku] = int(row.units_ahead)
    return OrderOutlook(decided=rows[0].decided_status is not None, stock={row.sku: sku_view(row) for row in rows},
                        available=available, ahead=ahead)


_STOCK_OF = FastStatement(select(STOCK.c.warehouse, STOCK.c.sku, STOCK.c.available)
                          .where(STOCK.c.sku.in_(bindparam("skus", expanding=True))))


def available_by_warehouse(session: Session, skus: Iterable[str]) -> dict[str, dict[str, int]]:
    """warehouse -> sku -> available there, fresh."""
    wanted = sorted(set(skus))
    out: dict[str, dict[str, int]] = {}
    for row in (_STOCK_OF.execute(session, {"skus": wanted}).all() if wanted else []):
        out.setdefault(row.warehouse, {})[row.sku] = row.available
    return out


_DECIDED = FastStatement(select(_RESERVATIONS.c.status).where(_RESERVATIONS.c.order_id == bindparam("oid")))


def is_decided(session: Session, order_id: str) -> bool:
    """A reservation row exists: the order was reserved, backordered, or cancelled before it came."""
    return _DECIDED.execute(session, {"oid": order_id}).first() is not None


_ADD_RESERVATION = FastStatement(insert(_RESERVATIONS))
_ADD_BACKORDER_LINES = FastStatement(insert(_LINES))


def add_reservation(session: Session, order: OrderAccepted, needs: Mapping[str, int], *, status: str,
                    presale: bool, now: datetime) -> None:
    """A plain INSERT, at once: later events of the same batch look the order up."""
    _ADD_RESERVATION.execute(session, {
        "order_id": order.order_id, "status": status, "order_type": order.order_type,
        "priority_class": order.priority_class, "priority_rank": order.priority_rank, "region": order.region,
        "paid_at": order.paid_at, "lines_json": order_lines_json(order.lines), "needs_json": json.dumps(needs),
        "presale": presale, "awaiting_balance": order.balance_due_by is not None, "created_at": now, "updated_at": now,
        "split_policy": order.split_policy,
    })


def add_early_cancellation(session: Session, order_id: str, *, now: datetime) -> None:
    """A cancellation that overtook its order's acceptance: the late order then reserves nothing."""
    _ADD_RESERVATION.execute(session, {
        "order_id": order_id, "status": CANCELLED, "order_type": "standard", "priority_class": "standard",
        "priority_rank": "", "region": "", "paid_at": None, "lines_json": "[]", "needs_json": "{}",
        "presale": False, "awaiting_balance": False, "created_at": now, "updated_at": now,
        "split_policy": "fewest_shipments",
    })


def load_reservation(session: Session, order_id: str) -> Any:
    """The order's reservation row (columns by name), or None."""
    return session.execute(select(_RESERVATIONS).where(_RESERVATIONS.c.order_id == order_id)).first()


def save_status(session: Session, order_id: str, status: str, *, now: datetime) -> None:
    """The status reservation.py decided."""
    session.execute(update(_RESERVATIONS).where(_RESERVATIONS.c.order_id == order_id)
                    .values(status=status, updated_at=now))


def needs_of(reservation: Any) -> dict[str, int]:
    return {sku: int(q) for sku, q in json.loads(reservation.needs_json).items()}


def add_to_queue(session: Session, order_id: str, rank: str, needs: Mapping[str, int], *, home: str) -> None:
    """At once, with plain INSERTs: the next order's outlook must count these lines. `home`: the
    warehouse where the order holds its place in line."""
    _ADD_BACKORDER_LINES.executemany(session, [{"order_id": order_id, "sku": sku, "quantity": quantity,
                                                "priority_rank": rank, "warehouse": home}
                                               for sku, quantity in needs.items()])


def remove_from_queue(session: Session, order_id: str) -> None:
    session.execute(delete(_LINES).where(_LINES.c.order_id == order_id))


def waiting_backorders(session: Session) -> list[Any]:
    """The waiting orders in rank: order_id, priority_rank, region, split_policy, needs_json."""
    return session.execute(
        select(_RESERVATIONS.c.order_id, _RESERVATIONS.c.priority_rank, _RESERVATIONS.c.needs_json,
               _RESERVATIONS.c.region, _RESERVATIONS.c.split_policy)
        .where(_RESERVATIONS.c.status == BACKORDERED)
        .order_by(_RESERVATIONS.c.priority_rank, _RESERVATIONS.c.order_id)
    ).all()


# ---------------------------------------------------------------------------------------------
# Business keys: a delivery id and a return case count once, whichever way they come


def delivery_known(session: Session, delivery_id: str) -> bool:
    return session.get(InventoryDelivery, delivery_id) is not None


def add_delivery(session: Session, *, delivery_id: str, sku: str, quantity: int, delivered_at: datetime,
                 now: datetime, warehouse: str) -> None:
    session.add(InventoryDelivery(delivery_id=delivery_id, sku=sku, quantity=quantity, delivered_at=delivered_at,
                                  received_at=now, warehouse=warehouse))


def restock_known(session: Session, case_id: str) -> bool:
    return session.get(InventoryRestock, case_id) is not None


def add_restock(session: Session, *, case_id: str, order_id: str, restocked: bool, now: datetime) -> None:
    session.add(InventoryRestock(case_id=case_id, order_id=order_id, restocked=restocked, at=now))

"""Database operations on the inventory tables. Stock figures only ever change through the
conditional UPDATEs here, each checked by its rowcount, so the database (not a Python lock)
guarantees that available stock never goes below zero, across threads and processes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, or_, update
from sqlmodel import Session, col, select

from services.inventory.domain import Backorder, SkuState, SkuView, StockLimitExceeded
from services.inventory.models import (
    InventoryBackorderLine,
    InventoryLedgerEntry,
    InventoryReservation,
    InventorySku,
)
from shared.deferred import defer_insert, pending_rows
from shared.fastsql import FastStatement
from shared.limits import MAX_STOCK_UNITS

NO_SYNC = {"synchronize_session": False}


class UnknownSku(LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"unknown sku {sku!r}: add it to the catalog first (PUT /skus/{sku})")
        self.sku = sku


def load_sku(session: Session, sku: str) -> InventorySku | None:
    """Fresh from the database: Core updates below bypass the session's identity map."""
    return session.get(InventorySku, sku, populate_existing=True)


def require_sku(session: Session, sku: str) -> InventorySku:
    row = load_sku(session, sku)
    if row is None:
        raise UnknownSku(sku)
    return row


# The statements of the reservation path, built once: constructing the expression and its cache
# key on every call was a sixth of the service's time at peak. Values come as bound parameters;
# FastStatement() runs them on the driver's cursor (shared/fastsql.py).
_SKUS = InventorySku.__table__
# What the reservation path reads of a sku: the figures and mode the decision needs and what
# `sku_state` takes. Every column more is a conversion per row (a time is a parse), on a path
# every order takes two or three times.
_DECISION_COLUMNS = [_SKUS.c[name] for name in (
    "sku", "tier", "planned_stock", "available", "mode", "threshold_percent", "expected_date",
    "open_request_id", "open_request_urgent", "open_request_expires_at")]
_LOAD_SKUS = FastStatement(select(*_DECISION_COLUMNS).where(_SKUS.c.sku.in_(bindparam("skus", expanding=True))))
_RESERVE = FastStatement(
    update(_SKUS)
    .where(_SKUS.c.sku == bindparam("sku_id"), _SKUS.c.available >= bindparam("units"))
    .values(available=_SKUS.c.available - bindparam("units"), reserved=_SKUS.c.reserved + bindparam("units"))
    .returning(*_DECISION_COLUMNS))
_LINES = InventoryBackorderLine.__table__
# The skus an incoming order wants and, per sku, the units waiting orders ranked ahead of it
# need: one statement, since every order asks both (the index on (sku, rank, quantity) answers
# the sum from the index alone).
_AHEAD_OF_RANK = (select(func.coalesce(func.sum(_LINES.c.quantity), 0))
                  .where(_LINES.c.sku == _SKUS.c.sku, _LINES.c.priority_rank < bindparam("rank"))
                  .scalar_subquery())
_RESERVATIONS = InventoryReservation.__table__
# ... and whether the order was decided before (its reservation row's status, else NULL), the
# first thing every order asks: one statement fewer per order than asking it alone.
_DECIDED_STATUS = (select(_RESERVATIONS.c.status).where(_RESERVATIONS.c.order_id == bindparam("oid"))
                   .scalar_subquery())
_LOAD_SKUS_AND_AHEAD = FastStatement(select(
    *_DECISION_COLUMNS, _AHEAD_OF_RANK.label("units_ahead"), _DECIDED_STATUS.label("decided_status"),
).where(_SKUS.c.sku.in_(bindparam("skus", expanding=True))))


def load_skus(session: Session, skus: Iterable[str]) -> dict[str, Any]:
    """The skus' current figures and mode (`_DECISION_COLUMNS`), read-only (plain rows with the
    columns' names, not ORM objects: stock figures change only through the UPDATEs below)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = _LOAD_SKUS.execute(session, {"skus": wanted}).all()
    return {row.sku: row for row in rows}


def sku_view(row: InventorySku) -> SkuView:  # also takes a RETURNING row: same names
    return SkuView(available=row.available, mode=row.mode, expected_date=row.expected_date)


def sku_state(row: InventorySku) -> SkuState:
    return SkuState(sku=row.sku, tier=row.tier, planned_stock=row.planned_stock, available=row.available,
                    mode=row.mode, threshold_percent=row.threshold_percent,
                    open_request_urgent=row.open_request_urgent if row.open_request_id else None,
                    open_request_expires_at=row.open_request_expires_at)


# ---------------------------------------------------------------------------------------------
# Stock figures


def try_reserve(session: Session, needs: Mapping[str, int]) -> tuple[str | None, dict[str, Any]]:
    """Reserve every sku's quantity or none. Returns (None, the skus' rows as the updates left
    them) when all are reserved, else (the first sku that had too little, {}) and every update of
    this attempt is rolled back to the savepoint. Skus are locked in name order so two
    transactions never wait on each other in a cycle. The rows come back from the UPDATE itself
    (RETURNING), so what follows reads the figures this transaction just wrote without a SELECT."""
    # One sku: a refused UPDATE changed nothing, so no savepoint is needed to undo it.
    savepoint = session.begin_nested() if len(needs) > 1 else None
    fresh: dict[str, Any] = {}
    for sku in sorted(needs):
        quantity = needs[sku]
        row = _RESERVE.execute(session, {"sku_id": sku, "units": quantity}).one_or_none()
        if row is None:
            if savepoint is not None:
                savepoint.rollback()
            return sku, {}
        fresh[sku] = row
    if savepoint is not None:
        savepoint.commit()
    return None, fresh


def release(session: Session, sku: str, quantity: int) -> None:
    result = session.execute(
        update(InventorySku)
        .where(InventorySku.sku == sku, col(InventorySku.reserved) >= quantity)
        .values(available=InventorySku.available + quantity, reserved=InventorySku.reserved - quantity)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"cannot release {quantity} of {sku}: fewer units are reserved")


def ship_out(session: Session, sku: str, quantity: int) -> None:
    """Reserved goods leave the warehouse: they stop being on hand and stop being reserved;
    what is available does not change."""
    result = session.execute(
        update(InventorySku)
        .where(InventorySku.sku == sku, col(InventorySku.reserved) >= quantity, col(InventorySku.on_hand) >= quantity)
        .values(on_hand=InventorySku.on_hand - quantity, reserved=InventorySku.reserved - quantity)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"cannot ship {quantity} of {sku}: fewer units are reserved")


def change_on_hand(session: Session, sku: str, delta: int) -> None:
    """Goods arrive (delivery, return, count up) or turn out missing (count down). A decrease is
    refused if it would take away units already promised to orders; an increase if on hand would
    pass MAX_STOCK_UNITS (callers check that first with the domain's `on_hand_after`; this
    condition also holds against another transaction's change in between)."""
    result = session.execute(
        update(InventorySku)
        .where(InventorySku.sku == sku, col(InventorySku.available) + delta >= 0,
               col(InventorySku.on_hand) + delta <= MAX_STOCK_UNITS)
        .values(on_hand=InventorySku.on_hand + delta, available=InventorySku.available + delta)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        if delta > 0:
            raise StockLimitExceeded(f"cannot add {delta} units to the on-hand stock of {sku}: it would pass "
                                     f"the limit of {MAX_STOCK_UNITS} units per sku")
        raise ValueError(f"cannot change on-hand stock of {sku} by {delta}: not enough unreserved stock")


_LEDGER = InventoryLedgerEntry.__table__


def record(session: Session, sku: str, cause: str, *, at: datetime, actor: str, reference: str = "",
           on_hand_delta: int = 0, reserved_delta: int = 0) -> None:
    """A ledger line, written at commit with the transaction's others (one INSERT for a batch).
    `actor`: who caused it (`http:<subject>(<roles>)`, `kafka:<topic>(source=...)`, ...)."""
    defer_insert(session, _LEDGER, {"sku": sku, "cause": cause, "on_hand_delta": on_hand_delta,
                                    "reserved_delta": reserved_delta, "reference": reference, "at": at,
                                    "actor": actor})


def ledger_totals(session: Session, sku: str) -> tuple[int, int]:
    """(on hand, reserved) as the ledger explains them, this transaction's unwritten lines included."""
    on_hand, reserved = session.exec(
        select(func.coalesce(func.sum(InventoryLedgerEntry.on_hand_delta), 0),
               func.coalesce(func.sum(InventoryLedgerEntry.reserved_delta), 0))
        .where(InventoryLedgerEntry.sku == sku)
    ).one()
    unwritten = [row for row in pending_rows(session, _LEDGER) if row["sku"] == sku]
    return (int(on_hand) + sum(row["on_hand_delta"] for row in unwritten),
            int(reserved) + sum(row["reserved_delta"] for row in unwritten))


# ---------------------------------------------------------------------------------------------
# Once-per-episode claims: the database decides which transaction raises the signal


def claim_replenishment(session: Session, sku: str, *, request_id: str, urgent: bool, now: datetime,
                        expires_at: datetime) -> str | None | bool:
    """Open a request unless one is already open (an urgent one may replace an ordinary one).
    Returns False when another request is open, else the id of the request it replaced (or None)."""
    row = require_sku(session, sku)
    replaced = row.open_request_id
    open_clause = or_(col(InventorySku.open_request_id).is_(None), col(InventorySku.open_request_expires_at) <= now)
    if urgent:
        open_clause = or_(open_clause, InventorySku.open_request_urgent == False)  # noqa: E712
    result = session.execute(
        update(InventorySku).where(InventorySku.sku == sku, open_clause)
        .values(open_request_id=request_id, open_request_urgent=urgent, open_request_expires_at=expires_at)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        return False
    return replaced


def close_replenishment(session: Session, sku: str) -> str | None:
    row = require_sku(session, sku)
    if row.open_request_id is None:
        return None
    session.execute(
        update(InventorySku).where(InventorySku.sku == sku)
        .values(open_request_id=None, open_request_urgent=None, open_request_expires_at=None)
        .execution_options(**NO_SYNC)
    )
    return row.open_request_id


def claim_mode_change(session: Session, sku: str, *, from_mode: str, to_mode: str,
                      expected_date: datetime | None, discount_percent: int | None,
                      discount_until: datetime | None) -> bool:
    result = session.execute(
        update(InventorySku).where(InventorySku.sku == sku, InventorySku.mode == from_mode)
        .values(mode=to_mode, expected_date=expected_date, discount_percent=discount_percent,
                discount_until=discount_until)
        .execution_options(**NO_SYNC)
    )
    return result.rowcount == 1


# ---------------------------------------------------------------------------------------------
# Reservations and the waiting queue


@dataclass(frozen=True)
class OrderOutlook:
    """What an incoming order's decision starts from."""

    decided: bool  # a reservation row exists: reserved, backordered, or cancelled before it came
    rows: dict[str, Any]  # the skus' current rows (as `load_skus`); unknown skus are left out
    ahead: dict[str, int]  # units of each sku that waiting orders ranked ahead need (none: left out)


def order_outlook(session: Session, order_id: str, skus: Iterable[str], rank: str) -> OrderOutlook:
    wanted = sorted(set(skus))
    rows = (_LOAD_SKUS_AND_AHEAD.execute(session, {"skus": wanted, "rank": rank, "oid": order_id}).all()
            if wanted else [])
    if not rows:  # no sku of the order is known (or no lines): the status needs its own look
        return OrderOutlook(decided=is_decided(session, order_id), rows={}, ahead={})
    return OrderOutlook(decided=rows[0].decided_status is not None, rows={row.sku: row for row in rows},
                        ahead={row.sku: int(row.units_ahead) for row in rows if row.units_ahead})


_DECIDED = FastStatement(select(_RESERVATIONS.c.status).where(_RESERVATIONS.c.order_id == bindparam("oid")))


def is_decided(session: Session, order_id: str) -> bool:
    """A reservation row exists: the order was reserved, backordered, or cancelled before it came."""
    return _DECIDED.execute(session, {"oid": order_id}).first() is not None


_ADD_RESERVATION = FastStatement(insert(InventoryReservation.__table__))
_ADD_BACKORDER_LINES = FastStatement(insert(_LINES))


def add_reservation(session: Session, row: dict[str, Any]) -> None:
    """A plain INSERT, at once: later events of the same batch look the order up."""
    _ADD_RESERVATION.execute(session, row)


def add_to_queue(session: Session, order_id: str, rank: str, needs: Mapping[str, int]) -> None:
    """At once, with plain INSERTs: the next order's `load_skus_and_ahead` must count these lines."""
    _ADD_BACKORDER_LINES.executemany(session, [{"order_id": order_id, "sku": sku, "quantity": quantity,
                                                "priority_rank": rank} for sku, quantity in needs.items()])


def remove_from_queue(session: Session, order_id: str) -> None:
    session.execute(delete(InventoryBackorderLine).where(InventoryBackorderLine.order_id == order_id)
                    .execution_options(**NO_SYNC))


def waiting_backorders(session: Session) -> list[Backorder]:
    rows = session.exec(
        select(InventoryReservation).where(InventoryReservation.status == "backordered")
        .order_by(col(InventoryReservation.priority_rank), col(InventoryReservation.order_id))
    ).all()
    return [Backorder(order_id=r.order_id, priority_rank=r.priority_rank, needs=needs_of(r)) for r in rows]


def needs_of(reservation: InventoryReservation) -> dict[str, int]:
    return {sku: int(q) for sku, q in json.loads(reservation.needs_json).items()}

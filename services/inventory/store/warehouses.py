"""Warehouses (the table an admin edits and the file fills at start) and each order's
allocation: where its units are reserved, per (warehouse, sku), and what became of each part."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, select

from services.inventory.models import InventoryAllocation, InventoryTransfer, InventoryWarehouse
from services.inventory.warehouses import DEFAULT, Ranking, Warehouse
from shared.deferred import defer_insert, pending_rows
from shared.event_parts import DEFAULT_WAREHOUSE
from shared.fastsql import FastStatement

_WAREHOUSES = InventoryWarehouse.__table__
_ALLOCATIONS = InventoryAllocation.__table__
RANKING_TTL_S = 1.0
"""How long a process keeps the warehouses it read before reading them again: the hot path
ranks warehouses per order without a SELECT. An edit made through this process is seen at once;
one made through another instance within this long (an admin's PUT, not the order flow)."""
_cache: dict[str, tuple[float, Ranking]] = {}


_urls: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _key(session: Session) -> str:
    """The database's URL: rendering it (quoting its parts) once per engine, not once per order."""
    bind = session.get_bind()
    url = _urls.get(bind)
    if url is None:
        url = _urls[bind] = str(bind.url)
    return url


def all_warehouses(session: Session) -> list[Warehouse]:
    rows = session.execute(select(_WAREHOUSES).order_by(_WAREHOUSES.c.position, _WAREHOUSES.c.id)).all()
    return [Warehouse(id=r.id, name=r.name, regions=tuple(json.loads(r.regions_json)),
                      reaches=tuple(json.loads(r.reaches_json)), carriers=tuple(json.loads(r.carriers_json)),
                      pickers=r.pickers, position=r.position) for r in rows]


def ranking(session: Session) -> Ranking:
    """The warehouses ranked per region, kept for RANKING_TTL_S."""
    key, now = _key(session), time.monotonic()
    cached = _cache.get(key)
    if cached is not None and now - cached[0] < RANKING_TTL_S:
        return cached[1]
    fresh = Ranking(all_warehouses(session) or [DEFAULT])
    _cache[key] = (now, fresh)
    return fresh


def forget_ranking() -> None:
    """After an edit (and again after its commit): the next decision reads the table."""
    _cache.clear()


def warehouse_ids(session: Session) -> set[str]:
    return {w.warehouse for w in ranking(session)("")}


def is_warehouse(session: Session, warehouse: str) -> bool:
    """Known to this process's ranking, or (created through another instance within the last
    RANKING_TTL_S) to the table: an event naming a new warehouse is never refused for staleness."""
    if warehouse in warehouse_ids(session):
        return True
    return session.execute(select(_WAREHOUSES.c.id).where(_WAREHOUSES.c.id == warehouse)).first() is not None


def save_warehouse(session: Session, warehouse: Warehouse, *, now: datetime) -> str:
    """Insert or replace; a warehouse is never deleted (it may hold stock). Returns created or updated."""
    values = {"name": warehouse.name, "regions_json": json.dumps(list(warehouse.regions)),
              "reaches_json": json.dumps(list(warehouse.reaches)),
              "carriers_json": json.dumps(list(warehouse.carriers)), "pickers": warehouse.pickers,
              "position": warehouse.position, "updated_at": now}
    known = session.execute(select(_WAREHOUSES.c.id).where(_WAREHOUSES.c.id == warehouse.id)).first()
    if known is None:
        session.execute(_WAREHOUSES.insert().values(id=warehouse.id, **values))
    else:
        session.execute(update(_WAREHOUSES).where(_WAREHOUSES.c.id == warehouse.id).values(**values))
    forget_ranking()
    return "created" if known is None else "updated"


def ensure_default_warehouse(session: Session, *, now: datetime) -> None:
    """No warehouse at all (a new database, no file): `main`, serving every region."""
    if session.execute(select(_WAREHOUSES.c.id).limit(1)).first() is None:
        save_warehouse(session, DEFAULT, now=now)


# ---------------------------------------------------------------------------------------------
# Allocations

_ADD_ALLOCATIONS = FastStatement(_ALLOCATIONS.insert())
_ALLOCATION_OF = FastStatement(select(_ALLOCATIONS).where(_ALLOCATIONS.c.order_id == bindparam("oid"))
                               .order_by(_ALLOCATIONS.c.id))


def add_allocation(session: Session, order_id: str, parts: Iterable[tuple[str, str, int]]) -> None:
    """(warehouse, sku, units) reserved for the order, in the decision's order. Written with the
    transaction's other deferred rows at commit (one INSERT for a batch, not one per order);
    `allocation_of` writes them first when it is asked, so a reader never misses one. Inside a
    savepoint (a batch's savepoint pass) at once: a savepoint rolled back after a reader had
    written rows deferred before it began would take them with it."""
    rows = [{"order_id": order_id, "warehouse": wh, "sku": sku, "quantity": units, "state": "reserved"}
            for wh, sku, units in parts]
    if session.in_nested_transaction():
        _ADD_ALLOCATIONS.executemany(session, rows)
        return
    for row in rows:
        defer_insert(session, _ALLOCATIONS, row)


def _write_deferred(session: Session) -> None:
    """The allocation rows this transaction deferred, written now (ids in the order added)."""
    pending = pending_rows(session, _ALLOCATIONS)
    if not pending:
        return
    if session.in_nested_transaction():  # never deferred inside one (add_allocation), see there
        raise RuntimeError("deferred allocation rows read inside a savepoint begun after they were added")
    _ADD_ALLOCATIONS.executemany(session, pending)
    pending.clear()


def allocation_of(session: Session, order_id: str) -> list[Any]:
    """The order's allocation rows (warehouse, sku, quantity, state), in the order they were decided."""
    _write_deferred(session)
    return _ALLOCATION_OF.execute(session, {"oid": order_id}).all()


def set_allocation_state(session: Session, row_ids: Iterable[int], state: str) -> None:
    ids = sorted(row_ids)
    if ids:
        session.execute(update(_ALLOCATIONS).where(_ALLOCATIONS.c.id.in_(ids)).values(state=state))


def first_warehouse(session: Session, sku: str) -> str:
    """Where goods of the sku go when an event or a body names no warehouse: the first (by
    position) of the warehouses that stock it; for a sku stocked nowhere, the first warehouse
    (`main` with one)."""
    from services.inventory.store.stock import STOCK  # one module each: stock's statements stay in stock.py
    row = session.execute(
        select(STOCK.c.warehouse).select_from(STOCK.outerjoin(_WAREHOUSES, _WAREHOUSES.c.id == STOCK.c.warehouse))
        .where(STOCK.c.sku == sku).order_by(_WAREHOUSES.c.position, STOCK.c.warehouse).limit(1)).first()
    if row is not None:
        return row.warehouse
    first = session.execute(select(_WAREHOUSES.c.id).order_by(_WAREHOUSES.c.position, _WAREHOUSES.c.id)
                            .limit(1)).first()
    return first.id if first is not None else DEFAULT_WAREHOUSE


# ---------------------------------------------------------------------------------------------
# Transfers

_TRANSFERS = InventoryTransfer.__table__


def load_transfer(session: Session, transfer_id: str) -> Any:
    return session.execute(select(_TRANSFERS).where(_TRANSFERS.c.transfer_id == transfer_id)).first()


def add_transfer(session: Session, *, transfer_id: str, sku: str, quantity: int, from_warehouse: str,
                 to_warehouse: str, by: str, now: datetime) -> None:
    session.execute(_TRANSFERS.insert().values(transfer_id=transfer_id, sku=sku, quantity=quantity,
                                               from_warehouse=from_warehouse, to_warehouse=to_warehouse,
                                               status="requested", requested_by=by, requested_at=now))


def move_transfer(session: Session, transfer_id: str, *, from_status: str, to_status: str, at_column: str,
                  now: datetime) -> bool:
    """From `from_status` only: of two instances moving it at once, one does."""
    result = session.execute(update(_TRANSFERS).where(_TRANSFERS.c.transfer_id == transfer_id,
                                                      _TRANSFERS.c.status == from_status)
                             .values(status=to_status, **{at_column: now}))
    return result.rowcount == 1


def transfers(session: Session, limit: int) -> list[Any]:
    return session.execute(select(_TRANSFERS).order_by(_TRANSFERS.c.requested_at.desc(),
                                                       _TRANSFERS.c.transfer_id).limit(limit)).all()

"""The stock ledger: every change to a sku's figures with its cause and who caused it (R12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.inventory.models import InventoryLedgerEntry
from shared.deferred import defer_insert, pending_rows

_LEDGER = InventoryLedgerEntry.__table__


def record(session: Session, sku: str, cause: str, *, at: datetime, actor: str, reference: str = "",
           on_hand_delta: int = 0, reserved_delta: int = 0, warehouse: str = "main") -> None:
    """A ledger line, written at commit with the transaction's others (one INSERT for a batch).
    `actor`: who caused it (`http:<subject>(<roles>)`, `kafka:<topic>(source=...)`, ...)."""
    defer_insert(session, _LEDGER, {"sku": sku, "cause": cause, "on_hand_delta": on_hand_delta,
                                    "reserved_delta": reserved_delta, "reference": reference, "at": at,
                                    "actor": actor, "warehouse": warehouse})


def ledger_totals(session: Session, sku: str, *, warehouse: str | None = None) -> tuple[int, int]:
    """(on hand, reserved) as the ledger explains them (in one warehouse, or all), this
    transaction's unwritten lines included."""
    query = (select(func.coalesce(func.sum(InventoryLedgerEntry.on_hand_delta), 0),
                    func.coalesce(func.sum(InventoryLedgerEntry.reserved_delta), 0))
             .where(InventoryLedgerEntry.sku == sku))
    if warehouse is not None:
        query = query.where(InventoryLedgerEntry.warehouse == warehouse)
    on_hand, reserved = session.exec(query).one()
    unwritten = [row for row in pending_rows(session, _LEDGER)
                 if row["sku"] == sku and warehouse in (None, row.get("warehouse", "main"))]
    return (int(on_hand) + sum(row["on_hand_delta"] for row in unwritten),
            int(reserved) + sum(row["reserved_delta"] for row in unwritten))


def ledger_entries(session: Session, sku: str, *, after_id: int | None, limit: int) -> list[InventoryLedgerEntry]:
    """The sku's entries in the order they were written (by id), from after `after_id`."""
    query = select(InventoryLedgerEntry).where(InventoryLedgerEntry.sku == sku)
    if after_id is not None:
        query = query.where(col(InventoryLedgerEntry.id) > after_id)
    return list(session.exec(query.order_by(col(InventoryLedgerEntry.id)).limit(limit)).all())

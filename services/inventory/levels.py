"""What a new stock level sets off (R9, R10), and the ledger line of every change of figures.

The 20% trigger is per warehouse and sku: each warehouse's available against its own planned
stock and threshold, with its own open request (once per episode per warehouse). The sell-out
playbook (mode changes) stays per sku, on the sku's totals: a sku sells out when no warehouse has
it (or an order asked for more than all of them hold)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from services.inventory import store
from services.inventory.domain import ChangeMode, InventoryPolicy, RequestReplenishment, SkuState, stock_signals
from shared.events import ReplenishmentRequested, SkuModeChanged
from shared.unit_of_work import UnitOfWork


def record(uow: UnitOfWork, sku: str, cause: str, *, reference: str, warehouse: str, on_hand_delta: int = 0,
           reserved_delta: int = 0) -> None:
    """A ledger line naming the unit of work's actor (R12) and the warehouse."""
    store.record(uow.session, sku, cause, at=uow.now, actor=str(uow.actor), reference=reference,
                 on_hand_delta=on_hand_delta, reserved_delta=reserved_delta, warehouse=warehouse)


def warehouse_state(total: Any, here: Any) -> SkuState:
    """The trigger's view of one warehouse: its figures, planned stock and open request, the
    sku's tier and mode (its threshold, else the sku's catalogue threshold)."""
    threshold = here.threshold_percent if here.threshold_percent is not None else total.threshold_percent
    return SkuState(sku=total.sku, tier=total.tier, planned_stock=here.planned_stock, available=here.available,
                    mode=total.mode, threshold_percent=threshold,
                    open_request_urgent=here.open_request_urgent if here.open_request_id else None,
                    open_request_expires_at=here.open_request_expires_at)


def react_to_level(uow: UnitOfWork, policy: InventoryPolicy, sku: str, *, sold_out_hint: bool,
                   row: Any = None, warehouses: Iterable[str] | None = None,
                   here: Mapping[str, Any] | None = None) -> None:
    """`row`: the sku's total row as this transaction's own UPDATE returned it, else read afresh;
    `warehouses`: those whose figures changed (None: all of the sku's); `here`: their rows as the
    UPDATE returned them (warehouse -> row), else read afresh."""
    row = row if row is not None else store.require_sku(uow.session, sku)
    sold_out = sold_out_hint or row.available == 0
    wanted = None if warehouses is None else sorted(set(warehouses))
    rows = dict(here or {})
    if wanted is None or any(w not in rows for w in wanted):
        rows = {**store.stock_rows(uow.session, [sku]).get(sku, {}), **rows}
    for warehouse in (wanted if wanted is not None else sorted(rows)):
        if warehouse not in rows:
            continue
        for signal in stock_signals(warehouse_state(row, rows[warehouse]), uow.now, policy, sold_out=sold_out):
            if isinstance(signal, RequestReplenishment):
                request_replenishment(uow, policy, sku, warehouse, signal)
    if not sold_out:
        return  # the sku's totals only ever call for a mode change, and only once it sells out
    for signal in stock_signals(store.sku_state(row), uow.now, policy, sold_out=sold_out):
        if isinstance(signal, ChangeMode):
            change_mode(uow, sku, signal)


def request_replenishment(uow: UnitOfWork, policy: InventoryPolicy, sku: str, warehouse: str,
                          signal: RequestReplenishment) -> None:
    """Once per episode and warehouse: the claim on the warehouse's row decides which transaction asks."""
    session, now = uow.session, uow.now
    request_id = f"R-{uuid.uuid4().hex[:12]}"
    expires_at = now + policy.request_expiry
    replaced = store.claim_replenishment(session, sku, warehouse, request_id=request_id, urgent=signal.urgent,
                                         now=now, expires_at=expires_at)
    if replaced is False:
        return  # a request is already open for this episode
    if replaced:
        store.close_request(session, replaced, at=now, by=f"replaced by {request_id}")
    store.add_request(session, request_id=request_id, sku=sku, quantity=signal.quantity, urgent=signal.urgent,
                      reason=signal.reason, requested_at=now, expires_at=expires_at, warehouse=warehouse)
    uow.publish(ReplenishmentRequested(request_id=request_id, sku=sku, quantity=signal.quantity, urgent=signal.urgent,
                                       reason=signal.reason, requested_at=now, warehouse=warehouse), key=sku)


def change_mode(uow: UnitOfWork, sku: str, change: ChangeMode) -> None:
    """From `change.from_mode` only: when another transaction changed it first, nothing happens."""
    if not store.claim_mode_change(uow.session, sku, from_mode=change.from_mode, to_mode=change.mode,
                                   expected_date=change.expected_date, discount_percent=change.discount_percent,
                                   discount_until=change.discount_until):
        return
    uow.publish(SkuModeChanged(sku=sku, mode=change.mode, reason=change.reason, expected_date=change.expected_date,
                               discount_percent=change.discount_percent, discount_until=change.discount_until,
                               changed_at=uow.now), key=sku)

"""Transfers between warehouses (issue 34): a warehouse short of a fast seller asks another
(`request_transfer`, an operator or admin), an admin confirms (`confirm_transfer`: the units are
reserved out of `from`, ledger `transfer_out`, in transit from then on), and the receiving
warehouse books them (`receive_transfer`: they leave `from`'s on hand and enter `to`'s, ledger
`transfer_out` and `transfer_in`, filling waiting orders there). Idempotent by transfer id."""

from __future__ import annotations

from typing import Any

from services.inventory import store
from services.inventory.domain import InventoryPolicy, Unbookable, on_hand_after
from services.inventory.levels import react_to_level, record
from services.inventory.usecases import fill_waiting_orders
from services.inventory.usecases_goods import known_warehouse
from shared.unit_of_work import UnitOfWork

REQUESTED, IN_TRANSIT, RECEIVED = "requested", "in_transit", "received"


class TransferConflict(Unbookable):
    """The transfer id is taken by another transfer, or the transfer is not in a state to move."""


def request_transfer(uow: UnitOfWork, *, transfer_id: str, sku: str, quantity: int, from_warehouse: str,
                     to_warehouse: str) -> tuple[str, Any]:
    """(created or duplicate, the transfer). The same id with other figures is a conflict."""
    session = uow.session
    known = store.load_transfer(session, transfer_id)
    if known is not None:
        if (known.sku, known.quantity, known.from_warehouse, known.to_warehouse) != (
                sku, quantity, from_warehouse, to_warehouse):
            raise TransferConflict(f"transfer {transfer_id} exists with other figures ({known.quantity} x "
                                   f"{known.sku} from {known.from_warehouse} to {known.to_warehouse})")
        return "duplicate", known
    store.require_sku(session, sku)
    for warehouse in (from_warehouse, to_warehouse):
        known_warehouse(session, warehouse, f"transfer {transfer_id}")
    if from_warehouse == to_warehouse:
        raise ValueError(f"transfer {transfer_id}: from and to are the same warehouse ({from_warehouse})")
    if store.stock_row(session, from_warehouse, sku) is None:
        raise ValueError(f"transfer {transfer_id}: warehouse {from_warehouse} holds no {sku}")
    store.add_transfer(session, transfer_id=transfer_id, sku=sku, quantity=quantity, from_warehouse=from_warehouse,
                       to_warehouse=to_warehouse, by=str(uow.actor), now=uow.now)
    return "created", store.load_transfer(session, transfer_id)


def confirm_transfer(uow: UnitOfWork, transfer_id: str, policy: InventoryPolicy) -> tuple[str, Any]:
    """Reserve the units out of `from` (all or nothing: never more than is available there)."""
    session = uow.session
    transfer = _require(session, transfer_id)
    if transfer.status != REQUESTED:
        return "duplicate", transfer  # confirmed before
    if not store.move_transfer(session, transfer_id, from_status=REQUESTED, to_status=IN_TRANSIT,
                               at_column="confirmed_at", now=uow.now):
        return "duplicate", store.load_transfer(session, transfer_id)
    short, fresh = store.try_reserve(session, [(transfer.from_warehouse, transfer.sku, transfer.quantity)])
    if short is not None:
        raise TransferConflict(f"transfer {transfer_id}: {transfer.from_warehouse} has fewer than {transfer.quantity} "
                               f"units of {transfer.sku} available")
    record(uow, transfer.sku, "transfer_out", reference=transfer_id, warehouse=transfer.from_warehouse,
           reserved_delta=transfer.quantity)
    react_to_level(uow, policy, transfer.sku, sold_out_hint=False, row=fresh.totals.get(transfer.sku),
                   warehouses=[transfer.from_warehouse], here=fresh.here.get(transfer.sku))
    return "confirmed", store.load_transfer(session, transfer_id)


def receive_transfer(uow: UnitOfWork, transfer_id: str, policy: InventoryPolicy) -> tuple[str, Any]:
    """The units in transit leave `from` and enter `to`; waiting orders are filled in rank."""
    session = uow.session
    transfer = _require(session, transfer_id)
    if transfer.status == RECEIVED:
        return "duplicate", transfer
    if transfer.status != IN_TRANSIT:
        raise TransferConflict(f"transfer {transfer_id} is {transfer.status}: an admin confirms it first")
    if not store.move_transfer(session, transfer_id, from_status=IN_TRANSIT, to_status=RECEIVED,
                               at_column="received_at", now=uow.now):
        return "duplicate", store.load_transfer(session, transfer_id)
    sku, quantity = transfer.sku, transfer.quantity
    store.ship_out(session, [(transfer.from_warehouse, sku, quantity)])
    record(uow, sku, "transfer_out", reference=transfer_id, warehouse=transfer.from_warehouse,
           on_hand_delta=-quantity, reserved_delta=-quantity)
    here = store.stock_row(session, transfer.to_warehouse, sku)
    on_hand_after(sku, here.on_hand if here is not None else 0, quantity, f"transfer {transfer_id}")
    if here is None:
        store.add_stock_row(session, warehouse=transfer.to_warehouse, sku=sku, planned_stock=0, on_hand=0,
                            threshold_percent=None)
    store.change_on_hand(session, transfer.to_warehouse, sku, quantity)
    record(uow, sku, "transfer_in", reference=transfer_id, warehouse=transfer.to_warehouse, on_hand_delta=quantity)
    fill_waiting_orders(uow, policy)
    react_to_level(uow, policy, sku, sold_out_hint=False, warehouses=[transfer.to_warehouse])
    return "received", store.load_transfer(session, transfer_id)


def _require(session: Any, transfer_id: str) -> Any:
    transfer = store.load_transfer(session, transfer_id)
    if transfer is None:
        raise LookupError(f"no transfer {transfer_id}")
    return transfer

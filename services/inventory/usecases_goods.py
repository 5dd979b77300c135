"""Goods in and counted (supplier deliveries, restocked returns, physical counts: R11, R12, R23)
and the catalogue (skus edited by an admin, or loaded from the catalogue file at start-up), each
in one warehouse. Same shape as usecases.py: load -> decide -> save -> publish."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from services.inventory import store
from services.inventory.catalog import CatalogEntry, parse_entry
from services.inventory.domain import (
    InventoryPolicy,
    Unbookable,
    back_in_stock,
    check_catalog_edit,
    check_catalog_fields,
    needed_per_sku,
    on_hand_after,
    reconcile,
    set_by_operator,
)
from services.inventory.levels import change_mode, react_to_level, record
from services.inventory.schemas import SkuEdit, StockCount
from services.inventory.usecases import fill_waiting_orders
from shared.events import ReturnReceived, SupplierDelivery
from shared.unit_of_work import UnitOfWork


def known_warehouse(session: Any, warehouse: str, what: str) -> str:
    if not store.is_warehouse(session, warehouse):
        raise Unbookable(f"{what} names warehouse {warehouse!r}, which is not a known warehouse (GET /warehouses)")
    return warehouse


def add_to_warehouse(uow: UnitOfWork, warehouse: str, sku: str, quantity: int, cause: str, reference: str) -> None:
    """Goods into one warehouse: on hand there (a sku new to the warehouse gets its row there,
    planned stock 0 until the catalogue says otherwise), checked against the stock limit."""
    session = uow.session
    total = store.require_sku(session, sku)
    on_hand_after(sku, total.on_hand, quantity, f"{cause} {reference}")
    if store.stock_row(session, warehouse, sku) is None:
        store.add_stock_row(session, warehouse=warehouse, sku=sku, planned_stock=0, on_hand=0, threshold_percent=None)
    store.change_on_hand(session, warehouse, sku, quantity)
    record(uow, sku, cause, reference=reference, warehouse=warehouse, on_hand_delta=quantity)


def receive_delivery(uow: UnitOfWork, delivery: SupplierDelivery, policy: InventoryPolicy) -> str:
    """Goods from a supplier into its warehouse (absent: the sku's first): on hand, close that
    warehouse's open request, fill waiting orders in rank (R11), end presale once there is stock
    to sell. Counted once per delivery id."""
    session, now, sku = uow.session, uow.now, delivery.sku
    if store.delivery_known(session, delivery.delivery_id):
        return "duplicate"
    store.require_sku(session, sku)
    warehouse = (known_warehouse(session, delivery.warehouse, f"delivery {delivery.delivery_id}")
                 if delivery.warehouse is not None else store.first_warehouse(session, sku))
    add_to_warehouse(uow, warehouse, sku, delivery.quantity, "delivery", delivery.delivery_id)
    store.add_delivery(session, delivery_id=delivery.delivery_id, sku=sku, quantity=delivery.quantity,
                       delivered_at=delivery.delivered_at, now=now, warehouse=warehouse)
    closed = store.close_replenishment(session, sku, warehouse)
    if closed is not None:
        store.close_request(session, closed, at=now, by=f"delivery {delivery.delivery_id}")

    fill_waiting_orders(uow, policy)
    change = back_in_stock(store.sku_state(store.require_sku(session, sku)))
    if change is not None:
        change_mode(uow, sku, change)
    react_to_level(uow, policy, sku, sold_out_hint=False, warehouses=[warehouse])
    return "received"


def restock_return(uow: UnitOfWork, received: ReturnReceived, policy: InventoryPolicy) -> str:
    """Returned goods that passed inspection go back on hand (R23), each line into the warehouse
    it was reserved in (the order's allocation; beyond it, or for an order not reserved here,
    the sku's first warehouse); once per case."""
    session = uow.session
    if store.restock_known(session, received.case_id):
        return "duplicate"
    store.add_restock(session, case_id=received.case_id, order_id=received.order_id,
                      restocked=received.inspection_passed, now=uow.now)
    if not received.inspection_passed:
        return "not_restocked"
    allocation = store.allocation_of(session, received.order_id)
    for sku, quantity in sorted(needed_per_sku((line.sku, line.quantity) for line in received.lines).items()):
        store.require_sku(session, sku)
        for warehouse, units in return_split(sku, quantity, allocation, store.first_warehouse(session, sku)):
            add_to_warehouse(uow, warehouse, sku, units, "return", received.case_id)
    fill_waiting_orders(uow, policy)
    return "restocked"


def return_split(sku: str, quantity: int, allocation: Iterable[Any], fallback: str) -> list[tuple[str, int]]:
    """Where `quantity` returned units of `sku` go: the order's parts of that sku in the order
    they were allocated, up to what each held, the rest to `fallback`."""
    out: dict[str, int] = {}
    left = quantity
    for row in allocation:
        if row.sku == sku and left:
            units = min(row.quantity, left)
            out[row.warehouse] = out.get(row.warehouse, 0) + units
            left -= units
    if left:
        out[fallback] = out.get(fallback, 0) + left
    return list(out.items())


def reconcile_counts(uow: UnitOfWork, count: StockCount, policy: InventoryPolicy) -> dict[str, Any]:
    """A physical count of one warehouse's shelf (each line's `warehouse`; absent: the sku's
    first) against the ledger (R12): differences become count adjustments and are reported back,
    under the count's reference (generated when it has none)."""
    session = uow.session
    keys = []
    for line in count.counts:
        store.require_sku(session, line.sku)
        warehouse = (known_warehouse(session, line.warehouse, "the count") if line.warehouse is not None
                     else store.first_warehouse(session, line.sku))
        keys.append((line.sku, warehouse))
    if len(set(keys)) != len(keys):
        raise ValueError("a sku appears twice in the count of one warehouse")
    reference = count.reference or f"COUNT-{uuid.uuid4().hex[:10]}"

    lines: list[dict[str, Any]] = []
    grew = False
    for line, (sku, warehouse) in zip(count.counts, keys):
        row = store.stock_row(session, warehouse, sku)
        recorded, reserved = (row.on_hand, row.reserved) if row is not None else (0, 0)
        ledger_on_hand, _ = store.ledger_totals(session, sku, warehouse=warehouse)
        result = reconcile(recorded, line.quantity, reserved, sku)
        if result.difference:
            if row is None:
                store.add_stock_row(session, warehouse=warehouse, sku=sku, planned_stock=0, on_hand=0,
                                    threshold_percent=None)
            if result.difference > 0:
                on_hand_after(sku, store.require_sku(session, sku).on_hand, result.difference, f"count {reference}")
            store.change_on_hand(session, warehouse, sku, result.difference)
            record(uow, sku, "count_adjustment", reference=reference, warehouse=warehouse,
                   on_hand_delta=result.difference)
            grew = grew or result.difference > 0
        lines.append({"sku": sku, "recorded_on_hand": result.recorded,
                      "ledger_on_hand": ledger_on_hand, "counted": line.quantity, "difference": result.difference,
                      "adjusted": result.difference != 0})

    if grew:
        fill_waiting_orders(uow, policy)
    for sku, warehouse in keys:
        react_to_level(uow, policy, sku, sold_out_hint=False, warehouses=[warehouse])
    return {"reference": reference, "lines": lines}


# ---------------------------------------------------------------------------------------------
# The catalogue: skus edited by an admin, or loaded from the catalog file at start-up


def edit_sku(uow: UnitOfWork, edit: SkuEdit, policy: InventoryPolicy) -> str:
    """PUT /skus/{sku}: create a sku, or change its catalog fields (tier, planned stock,
    threshold, mode) in one warehouse (`warehouse`; absent: the sku's first, `main` for a new
    sku). Returns created or updated."""
    session = uow.session
    row = store.load_sku(session, edit.sku)
    warehouse = edit.warehouse or store.first_warehouse(session, edit.sku)
    here = store.stock_row(session, warehouse, edit.sku) if row is not None else None
    planned = edit.planned_stock
    if planned is None and edit.forecast is None:
        if here is None:
            raise ValueError(f"planned_stock or forecast is required for a sku new to warehouse {warehouse}")
        planned = here.planned_stock
    entry = parse_entry({"sku": edit.sku, "tier": edit.tier, "planned_stock": planned, "forecast": edit.forecast,
                         "on_hand": edit.on_hand, "threshold_percent": edit.threshold_percent,
                         "name": edit.name or "", "bin": edit.bin, "warehouse": warehouse}, place="body")
    return upsert_sku(uow, policy, entry, row=row, mode=edit.mode)


def load_catalog(uow: UnitOfWork, entries: Iterable[CatalogEntry], policy: InventoryPolicy) -> list[str]:
    """The catalog file at start-up: new skus (or skus new to a warehouse) with their opening
    stock; existing ones get their catalog fields and keep their stock figures."""
    return [upsert_sku(uow, policy, entry, row=store.load_sku(uow.session, entry.sku), from_catalog=True)
            for entry in entries]


def upsert_sku(uow: UnitOfWork, policy: InventoryPolicy, entry: CatalogEntry, *, row: Any,
               from_catalog: bool = False, mode: str | None = None) -> str:
    """`row`: the sku's total row as it is now (None: a new sku). On-hand stock of an existing
    sku in a warehouse changes only through deliveries, returns and counts, so every change has
    its cause in the ledger."""
    session, now, sku, warehouse = uow.session, uow.now, entry.sku, entry.warehouse
    check_catalog_fields(sku, tier=entry.tier, planned_stock=entry.planned_stock, on_hand=entry.on_hand, mode=mode)
    known_warehouse(session, warehouse, f"sku {sku}")
    here = store.stock_row(session, warehouse, sku) if row is not None else None
    if here is not None:
        check_catalog_edit(sku, recorded_on_hand=here.on_hand, asked_on_hand=entry.on_hand, from_catalog=from_catalog)

    if row is None:
        store.add_sku(session, sku=sku, name=entry.name, tier=entry.tier, threshold_percent=entry.threshold_percent,
                      now=now, bin=entry.bin or None)
    else:
        store.save_catalog_fields(session, sku, name=entry.name or row.name, tier=entry.tier,
                                  threshold_percent=entry.threshold_percent, now=now,
                                  bin=row.bin if entry.bin is None else (entry.bin or None))
    if here is None:
        on_hand = entry.on_hand or 0
        on_hand_after(sku, row.on_hand if row is not None else 0, on_hand, f"opening stock in {warehouse}")
        store.add_stock_row(session, warehouse=warehouse, sku=sku, planned_stock=entry.planned_stock,
                            on_hand=on_hand, threshold_percent=entry.threshold_percent)
        if on_hand:
            record(uow, sku, "initial_stock", reference="catalog" if from_catalog else "PUT /skus",
                   warehouse=warehouse, on_hand_delta=on_hand)
    else:
        store.save_stock_fields(session, warehouse=warehouse, sku=sku, planned_stock=entry.planned_stock,
                                threshold_percent=entry.threshold_percent)
    change = set_by_operator(store.require_sku(session, sku).mode, mode) if mode is not None else None
    if change is not None:
        change_mode(uow, sku, change)

    if here is None or change is not None:
        fill_waiting_orders(uow, policy)  # orders may be waiting for presale to end, or for stock here
    react_to_level(uow, policy, sku, sold_out_hint=False, warehouses=[warehouse])
    return "created" if row is None else "updated"

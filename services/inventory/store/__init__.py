"""Every statement of the inventory service, by name: use cases and routes call these, never SQL.

`stock`: a sku's figures (conditional updates), mode and replenishment claims; `orders`:
reservations, the waiting queue and business keys; `ledger`: the stock ledger; `queries`: the
HTTP side's reads; `snapshots`: the sell rate and the 2-hourly stock snapshots. One flat
namespace, `store.<name>`."""

from services.inventory.store.ledger import ledger_entries, ledger_totals, record
from services.inventory.store.orders import (
    OrderOutlook,
    add_delivery,
    add_early_cancellation,
    add_reservation,
    add_restock,
    add_to_queue,
    available_by_warehouse,
    delivery_known,
    is_decided,
    load_reservation,
    needs_of,
    order_outlook,
    remove_from_queue,
    restock_known,
    save_status,
    waiting_backorders,
)
from services.inventory.store.queries import (
    all_skus,
    forget_expired_answers,
    open_requests,
    skus_after,
    waiting_orders,
)
from services.inventory.store.snapshots import (
    add_snapshot,
    first_ledger_at,
    last_snapshot_slot,
    load_snapshot,
    net_reserved,
    snapshot_rows,
    snapshots_before,
)
from services.inventory.store.stock import (
    UnknownSku,
    add_request,
    add_sku,
    add_stock_row,
    change_on_hand,
    claim_mode_change,
    claim_replenishment,
    close_replenishment,
    close_request,
    load_sku,
    load_skus,
    release,
    require_sku,
    save_catalog_fields,
    save_stock_fields,
    ship_out,
    sku_state,
    sku_view,
    sku_views,
    stock_row,
    stock_rows,
    try_reserve,
)
from services.inventory.store.warehouses import (
    add_allocation,
    add_transfer,
    all_warehouses,
    allocation_of,
    ensure_default_warehouse,
    first_warehouse,
    forget_ranking,
    is_warehouse,
    load_transfer,
    move_transfer,
    ranking,
    save_warehouse,
    set_allocation_state,
    transfers,
    warehouse_ids,
)

__all__ = [
    "OrderOutlook", "UnknownSku", "add_delivery", "add_early_cancellation", "add_request", "add_reservation",
    "add_restock", "add_sku", "add_to_queue", "all_skus", "change_on_hand", "claim_mode_change",
    "claim_replenishment", "close_replenishment", "close_request", "delivery_known", "forget_expired_answers",
    "is_decided", "ledger_entries", "ledger_totals", "load_reservation", "load_sku", "load_skus", "needs_of",
    "open_requests", "order_outlook", "record", "release", "remove_from_queue", "require_sku",
    "restock_known", "save_catalog_fields", "save_status", "ship_out", "sku_state", "sku_view", "sku_views",
    "try_reserve", "waiting_backorders", "waiting_orders",
    "add_snapshot", "first_ledger_at", "last_snapshot_slot", "load_snapshot", "net_reserved", "snapshot_rows",
    "snapshots_before",
    "add_stock_row", "available_by_warehouse", "save_stock_fields", "stock_row", "stock_rows",
    "add_allocation", "all_warehouses", "allocation_of", "ensure_default_warehouse", "first_warehouse",
    "forget_ranking", "is_warehouse", "ranking",
    "save_warehouse", "set_allocation_state", "warehouse_ids", "add_transfer", "load_transfer", "move_transfer",
    "transfers",
]

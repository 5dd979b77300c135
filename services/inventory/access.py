"""Who may call which inventory route (R3, R28), as docs/security.md gives the roles: admins
change the catalogue (create skus, tier, planned stock, threshold, mode); warehouse staff receive
deliveries and count stock, as admins may; warehouse, support and admins read stock and the
ledger (and the 2-hourly stock snapshots); platform services read only their orders'
reservations. Warehouses: read as stock is, changed by admins; transfers asked for and received by warehouse
staff or admins, confirmed by admins. Unlisted routes (e.g. PUT /clock) are admin-only."""

ADMIN = frozenset({"admin"})
STOCK_KEEPERS = frozenset({"warehouse", "admin"})
STOCK_READERS = frozenset({"warehouse", "support", "admin"})
ORDER_READERS = frozenset({"platform", "warehouse", "support", "admin"})

ACCESS = {
    ("PUT", "/skus/{sku}"): ADMIN,
    ("POST", "/counts"): STOCK_KEEPERS,
    ("POST", "/deliveries"): STOCK_KEEPERS,
    ("GET", "/stock"): STOCK_READERS,
    ("GET", "/stock/low"): STOCK_READERS,
    ("GET", "/stock/{sku}"): STOCK_READERS,
    ("GET", "/ledger/{sku}"): STOCK_READERS,
    ("GET", "/stock/snapshots"): STOCK_READERS,
    ("GET", "/stock/snapshots/{snapshot_id}"): STOCK_READERS,
    ("GET", "/stock/snapshots/{snapshot_id}.csv"): STOCK_READERS,
    ("GET", "/reservations/{order_id}"): ORDER_READERS,
    ("GET", "/warehouses"): STOCK_READERS,
    ("PUT", "/warehouses/{warehouse_id}"): ADMIN,
    ("POST", "/transfers"): STOCK_KEEPERS,
    ("POST", "/transfers/{transfer_id}/confirm"): ADMIN,
    ("POST", "/transfers/{transfer_id}/receive"): STOCK_KEEPERS,
    ("GET", "/transfers"): STOCK_READERS,
}

"""Migration 0008 (issue 34): today's figures, open requests, reservations and waiting lines move
into warehouse `main`, which serves every region; and back down."""

from __future__ import annotations

import json
import uuid

from alembic import command
from sqlalchemy import text

from shared.db import make_engine
from shared.migrations import alembic_config

BEFORE = "9d4f2a7e1c38"  # 0007, the head before warehouses
NOW = "'2026-11-11 00:00:00.000000'"


def test_the_warehouse_migration_moves_todays_figures_into_main(tmp_path, databases) -> None:
    """On SQLite, or on PostgreSQL under TEST_DATABASE=postgres."""
    url = databases(f"m_{uuid.uuid4().hex[:8]}") if databases else f"sqlite:///{tmp_path / 'inventory.sqlite'}"
    engine = make_engine(url)
    cfg = alembic_config("inventory", engine.url.render_as_string(hide_password=False))
    command.upgrade(cfg, BEFORE)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO inventory_sku (sku, name, tier, planned_stock, on_hand, reserved, available, mode, "
            f"threshold_percent, open_request_id, open_request_urgent, updated_at) VALUES ('TEA', 'Tea', 'profit', "
            f"20, 10, 4, 6, 'in_stock', 30, 'R-1', false, {NOW})"))
        for order_id, status, needs in (("O-1", "reserved", {"TEA": 3}), ("O-2", "shipped", {"TEA": 1}),
                                        ("O-3", "backordered", {"TEA": 9}), ("O-4", "cancelled", {})):
            conn.execute(text(
                "INSERT INTO inventory_reservation (order_id, status, order_type, priority_class, priority_rank, "
                "region, lines_json, needs_json, presale, awaiting_balance, created_at, updated_at) VALUES "
                f"(:oid, :status, 'standard', 'standard', '2-1', 'beijing', '[]', :needs, false, false, {NOW}, {NOW})"),
                {"oid": order_id, "status": status, "needs": json.dumps(needs)})
        conn.execute(text("INSERT INTO inventory_backorder_line (order_id, sku, quantity, priority_rank) "
                          "VALUES ('O-3', 'TEA', 9, '2-1')"))
        conn.execute(text("INSERT INTO inventory_ledger_entry (sku, cause, on_hand_delta, reserved_delta, reference, "
                          f"at, actor) VALUES ('TEA', 'initial_stock', 10, 0, 'catalog', {NOW}, '')"))
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        warehouses = conn.execute(text("SELECT id, regions_json FROM inventory_warehouse")).all()
        assert [(w.id, json.loads(w.regions_json)) for w in warehouses] == [("main", ["*"])]
        stock = conn.execute(text("SELECT * FROM inventory_stock")).mappings().one()
        assert {k: stock[k] for k in ("sku", "warehouse", "planned_stock", "on_hand", "reserved", "available",
                                      "threshold_percent", "open_request_id")} == {
            "sku": "TEA", "warehouse": "main", "planned_stock": 20, "on_hand": 10, "reserved": 4, "available": 6,
            "threshold_percent": 30, "open_request_id": "R-1"}
        parts = conn.execute(text("SELECT order_id, warehouse, sku, quantity, state FROM inventory_allocation "
                                  "ORDER BY order_id")).all()
        assert [tuple(p) for p in parts] == [("O-1", "main", "TEA", 3, "reserved"),
                                             ("O-2", "main", "TEA", 1, "shipped")]
        assert conn.execute(text("SELECT warehouse FROM inventory_backorder_line")).scalar_one() == "main"
        assert conn.execute(text("SELECT warehouse FROM inventory_ledger_entry")).scalar_one() == "main"
        assert conn.execute(text("SELECT DISTINCT split_policy FROM inventory_reservation")).scalar_one() == \
            "fewest_shipments"
    command.downgrade(cfg, BEFORE)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT on_hand, reserved FROM inventory_sku")).one() == (10, 4)
        assert conn.execute(text("SELECT count(*) FROM inventory_backorder_line")).scalar_one() == 1
    engine.dispose()

"""several warehouses (issue 34): warehouses, stock per warehouse and sku, each order's allocation, transfers;
the warehouse of ledger lines, deliveries, replenishment requests and waiting lines. Today's
figures move into warehouse `main`, which serves every region.

Revision ID: 3b8e5f1a9d64
Revises: 9d4f2a7e1c38
Create Date: 2026-12-07 20:00:00.000000
"""

import json
from collections.abc import Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime


revision: str = '3b8e5f1a9d64'
down_revision: str | None = '9d4f2a7e1c38'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO = sqlmodel.sql.sqltypes.AutoString
HELD = ('reserved', 'released', 'shipped')  # statuses whose units were reserved in main


def upgrade() -> None:
    warehouse = op.create_table(
        'inventory_warehouse',
        sa.Column('id', AUTO(length=64), nullable=False),
        sa.Column('name', AUTO(), nullable=False),
        sa.Column('regions_json', sa.Text(), nullable=False),
        sa.Column('reaches_json', sa.Text(), nullable=False),
        sa.Column('carriers_json', sa.Text(), nullable=False),
        sa.Column('pickers', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'inventory_stock',
        sa.Column('sku', AUTO(length=64), nullable=False),
        sa.Column('warehouse', AUTO(length=64), nullable=False),
        sa.Column('planned_stock', sa.Integer(), nullable=False),
        sa.Column('on_hand', sa.Integer(), nullable=False),
        sa.Column('reserved', sa.Integer(), nullable=False),
        sa.Column('available', sa.Integer(), nullable=False),
        sa.Column('threshold_percent', sa.Integer(), nullable=True),
        sa.Column('open_request_id', AUTO(), nullable=True),
        sa.Column('open_request_urgent', sa.Boolean(), nullable=True),
        sa.Column('open_request_expires_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint('available >= 0', name='ck_inventory_stock_available_not_negative'),
        sa.CheckConstraint('reserved >= 0', name='ck_inventory_stock_reserved_not_negative'),
        sa.CheckConstraint('reserved + available = on_hand', name='ck_inventory_stock_balance'),
        sa.PrimaryKeyConstraint('sku', 'warehouse'),
    )
    allocation = op.create_table(
        'inventory_allocation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', AUTO(), nullable=False),
        sa.Column('warehouse', AUTO(), nullable=False),
        sa.Column('sku', AUTO(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('state', AUTO(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('order_id', 'warehouse', 'sku', name='ux_inventory_allocation_order_part'),
    )
    op.create_index(op.f('ix_inventory_allocation_order_id'), 'inventory_allocation', ['order_id'], unique=False)
    op.create_table(
        'inventory_transfer',
        sa.Column('transfer_id', AUTO(length=64), nullable=False),
        sa.Column('sku', AUTO(length=64), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('from_warehouse', AUTO(length=64), nullable=False),
        sa.Column('to_warehouse', AUTO(length=64), nullable=False),
        sa.Column('status', AUTO(), nullable=False),
        sa.Column('requested_by', AUTO(), nullable=False),
        sa.Column('requested_at', UTCDateTime(), nullable=False),
        sa.Column('confirmed_at', UTCDateTime(), nullable=True),
        sa.Column('received_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('transfer_id'),
    )
    for table in ('inventory_ledger_entry', 'inventory_delivery', 'inventory_replenishment_request',
                  'inventory_backorder_line'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('warehouse', AUTO(), server_default='main', nullable=False))
    with op.batch_alter_table('inventory_reservation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split_policy', AUTO(), server_default='fewest_shipments', nullable=False))
    with op.batch_alter_table('inventory_backorder_line', schema=None) as batch_op:
        batch_op.drop_index('ix_inventory_backorder_line_sku_rank')
        batch_op.create_index('ix_inventory_backorder_line_sku_wh_rank',
                              ['sku', 'warehouse', 'priority_rank', 'quantity'], unique=False)

    # Today's figures move into `main` (serving every region); orders holding units hold them there.
    op.bulk_insert(warehouse, [{'id': 'main', 'name': 'Main warehouse', 'regions_json': '["*"]',
                                'reaches_json': '[]', 'carriers_json': '[]', 'pickers': 0, 'position': 0,
                                'updated_at': datetime.now(timezone.utc)}])
    op.execute("INSERT INTO inventory_stock (sku, warehouse, planned_stock, on_hand, reserved, available, "
               "threshold_percent, open_request_id, open_request_urgent, open_request_expires_at) "
               "SELECT sku, 'main', planned_stock, on_hand, reserved, available, threshold_percent, "
               "open_request_id, open_request_urgent, open_request_expires_at FROM inventory_sku")
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT order_id, status, needs_json FROM inventory_reservation")).all()
    parts = [{'order_id': r.order_id, 'warehouse': 'main', 'sku': sku, 'quantity': int(q),
              'state': 'reserved' if r.status == 'reserved' else r.status}
             for r in rows if r.status in HELD for sku, q in sorted(json.loads(r.needs_json).items())]
    if parts:
        op.bulk_insert(allocation, parts)


def downgrade() -> None:
    with op.batch_alter_table('inventory_backorder_line', schema=None) as batch_op:
        batch_op.drop_index('ix_inventory_backorder_line_sku_wh_rank')
        batch_op.create_index('ix_inventory_backorder_line_sku_rank', ['sku', 'priority_rank', 'quantity'],
                              unique=False)
    with op.batch_alter_table('inventory_reservation', schema=None) as batch_op:
        batch_op.drop_column('split_policy')
    for table in ('inventory_ledger_entry', 'inventory_delivery', 'inventory_replenishment_request',
                  'inventory_backorder_line'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('warehouse')
    op.drop_table('inventory_transfer')
    op.drop_index(op.f('ix_inventory_allocation_order_id'), table_name='inventory_allocation')
    op.drop_table('inventory_allocation')
    op.drop_table('inventory_stock')
    op.drop_table('inventory_warehouse')

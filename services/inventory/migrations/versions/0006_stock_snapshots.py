"""stock snapshots: every sku's figures once per 2-hour slot, and the ledger index the sell rate reads (issue 30)

Revision ID: 4d7e1a9c3f28
Revises: 6e3a9d2c7b15
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime


revision: str = '4d7e1a9c3f28'
down_revision: str | None = '6e3a9d2c7b15'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'inventory_stock_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slot_start', UTCDateTime(), nullable=False),
        sa.Column('taken_at', UTCDateTime(), nullable=False),
        sa.Column('period_s', sa.Integer(), nullable=False),
        sa.Column('sku_count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ux_inventory_stock_snapshot_slot', 'inventory_stock_snapshot', ['slot_start'], unique=True)
    op.create_table(
        'inventory_stock_snapshot_row',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('on_hand', sa.Integer(), nullable=False),
        sa.Column('reserved', sa.Integer(), nullable=False),
        sa.Column('available', sa.Integer(), nullable=False),
        sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('sell_rate_per_hour', sa.Float(), nullable=False),
        sa.Column('cover_hours', sa.Float(), nullable=True),
        sa.Column('replenishment_request_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('replenishment_quantity', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_inventory_stock_snapshot_row_snapshot_sku', 'inventory_stock_snapshot_row',
                    ['snapshot_id', 'sku'], unique=True)
    op.create_index('ix_inventory_ledger_entry_sku_at', 'inventory_ledger_entry',
                    ['sku', 'at', 'cause', 'reserved_delta'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inventory_ledger_entry_sku_at', table_name='inventory_ledger_entry')
    op.drop_index('ix_inventory_stock_snapshot_row_snapshot_sku', table_name='inventory_stock_snapshot_row')
    op.drop_table('inventory_stock_snapshot_row')
    op.drop_index('ux_inventory_stock_snapshot_slot', table_name='inventory_stock_snapshot')
    op.drop_table('inventory_stock_snapshot')

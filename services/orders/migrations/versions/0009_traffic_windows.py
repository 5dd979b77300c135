"""traffic windows (platform.traffic) for conversion, and an index on order_record.paid_at for the series

Revision ID: 5b1e7c3d9a20
Revises: 3d8f2b6a9c41
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '5b1e7c3d9a20'
down_revision: str | None = '3d8f2b6a9c41'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('order_traffic_window',
    sa.Column('window_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('window_seconds', sa.Integer(), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=False),
    sa.Column('visitors', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('counted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('corrections', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('window_start', 'window_seconds')
    )
    op.create_index(op.f('ix_order_traffic_window_start_us'), 'order_traffic_window', ['start_us'], unique=False)
    op.create_index('ix_order_record_paid_at', 'order_record', ['paid_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_order_record_paid_at', table_name='order_record')
    op.drop_index(op.f('ix_order_traffic_window_start_us'), table_name='order_traffic_window')
    op.drop_table('order_traffic_window')

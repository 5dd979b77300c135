"""several warehouses (issue 34): a shipment's warehouse and its order's number of parts, a wave's
warehouse, the SLA totals per warehouse, the queue and SLA indexes with the warehouse

Revision ID: 7e4b1c9a2d58
Revises: 5c2a9e7d41b3
Create Date: 2026-12-07 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '7e4b1c9a2d58'
down_revision: str | None = '5c2a9e7d41b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSHIPPED_COUNTED = "shipped_at IS NULL AND replacement_for_case IS NULL AND withdrawn_at IS NULL"


def _partial(where: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def _indexes(with_warehouse: bool) -> None:
    extra = ['warehouse'] if with_warehouse else []
    op.create_index('ix_logistics_shipment_dispatch_order', 'logistics_shipment',
                    ['status', *extra, 'class_order', 'deadline_24h', 'priority_rank', 'shipment_id'])
    op.create_index('ix_logistics_shipment_unshipped_paid', 'logistics_shipment',
                    ['paid_at', 'priority_class', 'status', *(['order_id', 'warehouse'] if with_warehouse else [])],
                    **_partial(UNSHIPPED_COUNTED))
    op.create_index('ix_logistics_shipment_unshipped_deadline', 'logistics_shipment',
                    ['deadline_24h', 'class_order', 'order_id', 'status', *extra], **_partial(UNSHIPPED_COUNTED))


def _drop_indexes() -> None:
    for name in ('ix_logistics_shipment_dispatch_order', 'ix_logistics_shipment_unshipped_paid',
                 'ix_logistics_shipment_unshipped_deadline'):
        op.drop_index(name, table_name='logistics_shipment')


def upgrade() -> None:
    # Every shipment so far is a whole order from the one warehouse there was.
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warehouse', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default='main'))
        batch_op.add_column(sa.Column('order_parts', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('logistics_pick_wave', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warehouse', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default='main'))
    _drop_indexes()
    _indexes(with_warehouse=True)
    op.create_table('logistics_sla_warehouse_paid_hour',
    sa.Column('warehouse', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('priority_class', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('paid_hour', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('paid', sa.Integer(), nullable=False),
    sa.Column('shipped', sa.Integer(), nullable=False),
    sa.Column('shipped_within_24h', sa.Integer(), nullable=False),
    sa.Column('shipped_within_48h', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('warehouse', 'priority_class', 'paid_hour')
    )
    op.create_table('logistics_sla_warehouse_shipped_hour',
    sa.Column('warehouse', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('priority_class', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('shipped_hour', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('dispatched', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('warehouse', 'priority_class', 'shipped_hour')
    )
    # The totals so far are all `main`'s, and with one part per order the same per part.
    op.execute("INSERT INTO logistics_sla_warehouse_paid_hour (warehouse, priority_class, paid_hour, paid, shipped, "
               "shipped_within_24h, shipped_within_48h) SELECT 'main', priority_class, paid_hour, paid, shipped, "
               "shipped_within_24h, shipped_within_48h FROM logistics_sla_paid_hour")
    op.execute("INSERT INTO logistics_sla_warehouse_shipped_hour (warehouse, priority_class, shipped_hour, "
               "dispatched) SELECT 'main', priority_class, shipped_hour, dispatched FROM logistics_sla_shipped_hour")


def downgrade() -> None:
    op.drop_table('logistics_sla_warehouse_shipped_hour')
    op.drop_table('logistics_sla_warehouse_paid_hour')
    _drop_indexes()
    _indexes(with_warehouse=False)
    with op.batch_alter_table('logistics_pick_wave', schema=None) as batch_op:
        batch_op.drop_column('warehouse')
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.drop_column('order_parts')
        batch_op.drop_column('warehouse')

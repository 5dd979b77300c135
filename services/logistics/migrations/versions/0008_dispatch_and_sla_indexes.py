"""dispatch and SLA indexes: the queue, waves and GET /sla read index ranges at 100,000 queued (issues 30, 31)

Revision ID: 5c1f7e2a9d30
Revises: 3e8b6d1f0a47
Create Date: 2026-12-07 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5c1f7e2a9d30'
down_revision: str | None = '3e8b6d1f0a47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSHIPPED_COUNTED = "shipped_at IS NULL AND replacement_for_case IS NULL AND withdrawn_at IS NULL"


def _partial(where: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def upgrade() -> None:
    # The single-column status and class indexes are prefixes of the dispatch-order one; the
    # paid_at and shipped_at ones gain the columns the SLA series filter on; the shipped_at and
    # replacement indexes keep only the rows with a value (see models.py).
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.drop_index('ix_logistics_shipment_status')
        batch_op.drop_index('ix_logistics_shipment_class_order')
        batch_op.drop_index('ix_logistics_shipment_shipped_at')
        batch_op.drop_index('ix_logistics_shipment_paid_at')
        batch_op.drop_index('ix_logistics_shipment_replacement_for_case')
    op.create_index('ix_logistics_shipment_dispatch_order', 'logistics_shipment',
                    ['status', 'class_order', 'deadline_24h', 'priority_rank', 'shipment_id'])
    op.create_index('ix_logistics_shipment_unshipped_paid', 'logistics_shipment',
                    ['paid_at', 'priority_class', 'status'], **_partial(UNSHIPPED_COUNTED))
    op.create_index('ix_logistics_shipment_unshipped_deadline', 'logistics_shipment',
                    ['deadline_24h', 'class_order', 'order_id', 'status'], **_partial(UNSHIPPED_COUNTED))
    op.create_index('ix_logistics_shipment_paid_counted', 'logistics_shipment',
                    ['paid_at', 'status', 'replacement_for_case', 'withdrawn_at'])
    op.create_index('ix_logistics_shipment_shipped_at', 'logistics_shipment',
                    ['shipped_at', 'deadline_24h', 'deadline_48h', 'status', 'replacement_for_case', 'withdrawn_at'],
                    **_partial("shipped_at IS NOT NULL"))
    op.create_index('ix_logistics_shipment_replacement_for_case', 'logistics_shipment', ['replacement_for_case'],
                    **_partial("replacement_for_case IS NOT NULL"))


def downgrade() -> None:
    for name in ('ix_logistics_shipment_replacement_for_case', 'ix_logistics_shipment_shipped_at',
                 'ix_logistics_shipment_paid_counted',
                 'ix_logistics_shipment_unshipped_deadline', 'ix_logistics_shipment_unshipped_paid',
                 'ix_logistics_shipment_dispatch_order'):
        op.drop_index(name, table_name='logistics_shipment')
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.create_index('ix_logistics_shipment_replacement_for_case', ['replacement_for_case'], unique=False)
        batch_op.create_index('ix_logistics_shipment_shipped_at', ['shipped_at'], unique=False)
        batch_op.create_index('ix_logistics_shipment_paid_at', ['paid_at'], unique=False)
        batch_op.create_index('ix_logistics_shipment_class_order', ['class_order'], unique=False)
        batch_op.create_index('ix_logistics_shipment_status', ['status'], unique=False)

"""totals index: GET /stats sums GMV by class and state from an index, not the order rows (issue 30)

Revision ID: 8d2a6f4c1e93
Revises: 5b1e7c3d9a20
Create Date: 2026-12-07 13:20:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '8d2a6f4c1e93'
down_revision: str | None = '5b1e7c3d9a20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The class index is this one's first column, so it goes: no more index writes per order.
    with op.batch_alter_table('order_record', schema=None) as batch_op:
        batch_op.drop_index('ix_order_record_priority_class')
    op.create_index('ix_order_record_totals', 'order_record',
                    ['priority_class', 'status', 'paid_cents', 'refunded_cents'])


def downgrade() -> None:
    op.drop_index('ix_order_record_totals', table_name='order_record')
    with op.batch_alter_table('order_record', schema=None) as batch_op:
        batch_op.create_index('ix_order_record_priority_class', ['priority_class'], unique=False)

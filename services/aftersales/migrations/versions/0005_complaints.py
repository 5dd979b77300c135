"""complaints: customer complaints with their 1-hour and 24-hour clocks (R27, issue 30)

Revision ID: 5c1e7a93d2b0
Revises: 2d8f6b0a4c17
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '5c1e7a93d2b0'
down_revision: str | None = '2d8f6b0a4c17'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('aftersales_complaint',
    sa.Column('complaint_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), server_default='', nullable=False),
    sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('next_due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('responded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('response', sa.Text(), server_default='', nullable=False),
    sa.Column('responded_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('resolved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('resolution', sa.Text(), server_default='', nullable=False),
    sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('complaint_id')
    )
    with op.batch_alter_table('aftersales_complaint', schema=None) as batch_op:
        batch_op.create_index('ix_aftersales_complaint_desk', ['tier', 'next_due_at', 'opened_at', 'complaint_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_aftersales_complaint_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftersales_complaint_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftersales_complaint_resolved_at'), ['resolved_at'], unique=False)


def downgrade() -> None:
    op.drop_table('aftersales_complaint')

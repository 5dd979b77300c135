"""deposit presale: the order_presale table (a deposit's terms and its balance)

Revision ID: 3e8b6d2a9c41
Revises: 7c3e9a1f4b20
Create Date: 2027-01-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '3e8b6d2a9c41'
down_revision: str | None = '7c3e9a1f4b20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('order_presale',
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('deposit', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('deposit_paid_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('expansion', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('deposit_value', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('balance_due', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('balance_due_by', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('closes_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('balance_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('balance_paid_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('balance_event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('balance_received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('order_presale', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_presale_closes_at'), ['closes_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('order_presale', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_presale_closes_at'))
    op.drop_table('order_presale')

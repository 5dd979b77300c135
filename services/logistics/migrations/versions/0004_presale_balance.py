"""presale balance: a deposit presale's shipment awaits its balance; balances kept when they come first (issue 29)

Revision ID: 7c4e1a9b3d62
Revises: 5a7c3e91d2b4
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '7c4e1a9b3d62'
down_revision: str | None = '5a7c3e91d2b4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Shipments queued before this revision were never deposit presales: both stay empty.
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deposit_paid_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('balance_paid_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table('logistics_order_balance',
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('balance_paid_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('priority_rank', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )


def downgrade() -> None:
    op.drop_table('logistics_order_balance')
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.drop_column('balance_paid_at')
        batch_op.drop_column('deposit_paid_at')

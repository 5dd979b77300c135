"""presale balance: a deposit presale's deposit and the balance received, which refunds follow (issue 29)

Revision ID: 2d8f6b0a4c17
Revises: 8057c24dad44
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '2d8f6b0a4c17'
down_revision: str | None = '8057c24dad44'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Orders recorded before this revision were never deposit presales awaiting a balance.
    with op.batch_alter_table('aftersales_purchase', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deposit', sa.Numeric(14, 2), nullable=True))
        batch_op.add_column(sa.Column('balance_amount', sa.Numeric(14, 2), nullable=True))
        batch_op.add_column(sa.Column('balance_paid_amount', sa.Numeric(14, 2), nullable=True))
        batch_op.add_column(sa.Column('balance_paid_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('aftersales_purchase', schema=None) as batch_op:
        batch_op.drop_column('balance_paid_at')
        batch_op.drop_column('balance_paid_amount')
        batch_op.drop_column('balance_amount')
        batch_op.drop_column('deposit')

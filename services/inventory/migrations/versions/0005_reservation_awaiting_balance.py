"""reservation awaiting balance: a deposit presale's reservation is held until its balance (issue 29)

Revision ID: 6e3a9d2c7b15
Revises: 8b2f4c6d1e90
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '6e3a9d2c7b15'
down_revision: str | None = '8b2f4c6d1e90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inventory_reservation', schema=None) as batch_op:
        # Reservations made before this revision were never deposit presales awaiting a balance.
        batch_op.add_column(sa.Column('awaiting_balance', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('inventory_reservation', schema=None) as batch_op:
        batch_op.drop_column('awaiting_balance')

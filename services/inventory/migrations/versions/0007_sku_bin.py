"""sku bin: the bin location of each sku, from the catalogue, for pick lists (issue 30)

Revision ID: 9d4f2a7e1c38
Revises: 4d7e1a9c3f28
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '9d4f2a7e1c38'
down_revision: str | None = '4d7e1a9c3f28'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Skus created before this revision have no bin until the catalogue or PUT /skus gives one.
    with op.batch_alter_table('inventory_sku', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bin', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inventory_sku', schema=None) as batch_op:
        batch_op.drop_column('bin')

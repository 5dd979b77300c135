"""ledger actor

Revision ID: 3c5d0e7a41b2
Revises: 1ef9a8949047
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '3c5d0e7a41b2'
down_revision: str | None = '1ef9a8949047'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inventory_ledger_entry', schema=None) as batch_op:
        # Who caused each entry (issue 27, finding 7): `http:<subject>(<roles>)`,
        # `kafka:<topic>(source=<event source>)` or `catalog:<file>`. Entries written before this
        # revision do not know it: ''.
        batch_op.add_column(sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('inventory_ledger_entry', schema=None) as batch_op:
        batch_op.drop_column('actor')

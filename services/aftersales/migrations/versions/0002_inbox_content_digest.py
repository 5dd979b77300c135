"""inbox content digest

Revision ID: bf33a90c9705
Revises: e236f2be6719
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'bf33a90c9705'
down_revision: str | None = 'e236f2be6719'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbox_entry', schema=None) as batch_op:
        # A digest of what the event said, so an event id used again for other content is told
        # apart from a redelivery. Entries written before this revision have none (NULL).
        batch_op.add_column(sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox_entry', schema=None) as batch_op:
        batch_op.drop_column('digest')

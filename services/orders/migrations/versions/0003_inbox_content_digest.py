"""inbox content digest

Revision ID: a2fa293924b6
Revises: 9960ceb75a3a
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'a2fa293924b6'
down_revision: str | None = '9960ceb75a3a'
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

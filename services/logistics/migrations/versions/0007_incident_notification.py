"""incident notification: the customer.notification_requested event an exception asked for (issue 30)

Revision ID: 3e8b6d1f0a47
Revises: 3b8d2f6e1a47
Create Date: 2026-12-07 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '3e8b6d1f0a47'
down_revision: str | None = '3b8d2f6e1a47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Exceptions recorded before this revision asked for no notification: the column stays empty.
    with op.batch_alter_table('logistics_shipment_incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notification_event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('logistics_shipment_incident', schema=None) as batch_op:
        batch_op.drop_column('notification_event_id')

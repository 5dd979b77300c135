"""refunded cents, HTTP submissions, parked events' actor

Revision ID: 5b1d0c7e2f94
Revises: a2fa293924b6
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '5b1d0c7e2f94'
down_revision: str | None = 'a2fa293924b6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('order_record', schema=None) as batch_op:
        # Refunds applied before this revision were not counted: they start from 0.
        batch_op.add_column(sa.Column('refunded_cents', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('order_parked_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.Text(), nullable=False, server_default=''))
    op.create_table('order_submission',
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('submitted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('order_submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_submission_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('order_submission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_submission_order_id'))
    op.drop_table('order_submission')
    with op.batch_alter_table('order_parked_event', schema=None) as batch_op:
        batch_op.drop_column('actor')
    with op.batch_alter_table('order_record', schema=None) as batch_op:
        batch_op.drop_column('refunded_cents')

"""holds and abuse rules (issue 29, R6): order_abuse_rules, order_address, order_hold

Revision ID: 798a311bce02
Revises: 3e8b6d2a9c41
Create Date: 2026-12-21 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '798a311bce02'
down_revision: str | None = '3e8b6d2a9c41'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('order_abuse_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rules_json', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('order_address',
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('address_digest', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('placed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('order_address', schema=None) as batch_op:
        batch_op.create_index('ix_order_address_digest_placed', ['address_digest', 'placed_at'], unique=False)

    op.create_table('order_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('figures_json', sa.Text(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('accepted_json', sa.Text(), nullable=True),
    sa.Column('resume_status', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('released_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('released_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('release_note', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('order_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_hold_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('order_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_hold_order_id'))

    op.drop_table('order_hold')
    with op.batch_alter_table('order_address', schema=None) as batch_op:
        batch_op.drop_index('ix_order_address_digest_placed')

    op.drop_table('order_address')
    op.drop_table('order_abuse_rules')

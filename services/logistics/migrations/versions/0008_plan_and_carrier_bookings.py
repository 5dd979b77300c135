"""the event's plan and carrier bookings made from its forecast (issue 32)

Revision ID: 5c2a9e7d41b3
Revises: 3e8b6d1f0a47
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '5c2a9e7d41b3'
down_revision: str | None = '3e8b6d1f0a47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('logistics_event_plan',
    sa.Column('plan_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('body_json', sa.Text(), nullable=False),
    sa.Column('loaded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('loaded_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('plan_key')
    )
    op.create_table('logistics_carrier_booking',
    sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('day', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('parcels', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('proposed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('confirmed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('booking_id')
    )
    with op.batch_alter_table('logistics_carrier_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_logistics_carrier_booking_carrier'), ['carrier'], unique=False)
        batch_op.create_index(batch_op.f('ix_logistics_carrier_booking_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_logistics_carrier_booking_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('logistics_carrier_booking', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_logistics_carrier_booking_status'))
        batch_op.drop_index(batch_op.f('ix_logistics_carrier_booking_day'))
        batch_op.drop_index(batch_op.f('ix_logistics_carrier_booking_carrier'))
    op.drop_table('logistics_carrier_booking')
    op.drop_table('logistics_event_plan')

"""tracking number index: support finds a shipment by the tracking number a customer reads out (issue 30)

Revision ID: 3b9d4f61a8e2
Revises: 7c4e1a9b3d62
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '3b9d4f61a8e2'
down_revision: str | None = '7c4e1a9b3d62'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The unique (carrier, tracking_number) constraint cannot answer a search without the carrier.
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_logistics_shipment_tracking_number'), ['tracking_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('logistics_shipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_logistics_shipment_tracking_number'))

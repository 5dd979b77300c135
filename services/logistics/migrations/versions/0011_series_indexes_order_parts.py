"""the war room series' two indexes with `order_parts`: a whole order's shipment counts as its
order without a look at its other parts (issue 34)

Revision ID: 2f6d8a4c9b17
Revises: 7e4b1c9a2d58
Create Date: 2026-12-07 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2f6d8a4c9b17'
down_revision: str | None = '7e4b1c9a2d58'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHIPPED = "shipped_at IS NOT NULL"


def _indexes(parts: list[str]) -> None:
    for name in ('ix_logistics_shipment_paid_counted', 'ix_logistics_shipment_shipped_at'):
        op.drop_index(name, table_name='logistics_shipment')
    op.create_index('ix_logistics_shipment_paid_counted', 'logistics_shipment',
                    ['paid_at', 'status', 'replacement_for_case', 'withdrawn_at', *parts])
    op.create_index('ix_logistics_shipment_shipped_at', 'logistics_shipment',
                    ['shipped_at', 'deadline_24h', 'deadline_48h', 'status', 'replacement_for_case', 'withdrawn_at',
                     *parts], sqlite_where=sa.text(SHIPPED), postgresql_where=sa.text(SHIPPED))


def upgrade() -> None:
    _indexes(['order_parts'])


def downgrade() -> None:
    _indexes([])

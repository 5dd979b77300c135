"""SLA running totals: per class and hour of payment, and per class and hour of hand-over (issue 31)

Revision ID: 3b8d2f6e1a47
Revises: 3b9d4f61a8e2
Create Date: 2026-12-07 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from services.logistics import sla_tally

revision: str = '3b8d2f6e1a47'
down_revision: str | None = '3b9d4f61a8e2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONTRIBUTING = ("priority_class", "paid_at", "shipped_at", "status", "replacement_for_case", "withdrawn_at")


def upgrade() -> None:
    paid_hour = op.create_table('logistics_sla_paid_hour',
    sa.Column('priority_class', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('paid_hour', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('paid', sa.Integer(), nullable=False),
    sa.Column('shipped', sa.Integer(), nullable=False),
    sa.Column('shipped_within_24h', sa.Integer(), nullable=False),
    sa.Column('shipped_within_48h', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('priority_class', 'paid_hour')
    )
    shipped_hour = op.create_table('logistics_sla_shipped_hour',
    sa.Column('priority_class', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('shipped_hour', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('dispatched', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('priority_class', 'shipped_hour')
    )
    _count_existing_shipments(paid_hour, shipped_hour)


def _count_existing_shipments(paid_hour: sa.Table, shipped_hour: sa.Table) -> None:
    """The totals of the shipments already stored, by the same rule new writes follow."""
    when = sqlmodel.sql.sqltypes.UTCDateTime
    shipments = sa.table('logistics_shipment', sa.column('priority_class'), sa.column('paid_at', when()),
                         sa.column('shipped_at', when()), sa.column('status'), sa.column('replacement_for_case'),
                         sa.column('withdrawn_at', when()))
    totals: dict[tuple, dict[str, int]] = {}
    bind = op.get_bind()
    for row in bind.execute(sa.select(*(shipments.c[name] for name in _CONTRIBUTING))):
        for increment in sla_tally.increments(None, sla_tally.contribution(dict(zip(_CONTRIBUTING, row)))):
            key = (increment.table, *increment.key.items())
            counts = totals.setdefault(key, dict.fromkeys(increment.counts, 0))
            for name, value in increment.counts.items():
                counts[name] += value
    tables = {sla_tally.PAID_HOUR: paid_hour, sla_tally.SHIPPED_HOUR: shipped_hour}
    for (table, *key), counts in totals.items():
        bind.execute(sa.insert(tables[table]).values(**dict(key), **counts))


def downgrade() -> None:
    op.drop_table('logistics_sla_shipped_hour')
    op.drop_table('logistics_sla_paid_hour')

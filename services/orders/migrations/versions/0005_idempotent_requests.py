"""idempotent requests (Idempotency-Key on POST /orders)

Revision ID: 7c3e9a1f4b20
Revises: 5b1d0c7e2f94
Create Date: 2026-12-20 10:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_idempotency_table, drop_idempotency_table


revision: str = '7c3e9a1f4b20'
down_revision: str | None = '5b1d0c7e2f94'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()

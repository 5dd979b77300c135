"""idempotent requests: the answers of POSTs sent with an Idempotency-Key

Revision ID: 5a7c3e91d2b4
Revises: dbf98ede27e8
Create Date: 2026-12-07 03:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_idempotency_table, drop_idempotency_table


revision: str = '5a7c3e91d2b4'
down_revision: str | None = 'dbf98ede27e8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()

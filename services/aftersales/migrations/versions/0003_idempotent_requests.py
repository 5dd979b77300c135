"""idempotent requests

Revision ID: 8057c24dad44
Revises: bf33a90c9705
Create Date: 2026-12-07 03:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_idempotency_table, drop_idempotency_table


revision: str = '8057c24dad44'
down_revision: str | None = 'bf33a90c9705'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()

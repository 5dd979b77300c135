"""idempotent requests

Revision ID: 8b2f4c6d1e90
Revises: 3c5d0e7a41b2
Create Date: 2026-12-20 10:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_idempotency_table, drop_idempotency_table


revision: str = '8b2f4c6d1e90'
down_revision: str | None = '3c5d0e7a41b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The answers to POST /counts and POST /deliveries sent with an Idempotency-Key.
    add_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()

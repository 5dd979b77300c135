"""inbox content digest

Revision ID: dbf98ede27e8
Revises: 4d0201a40e28
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_inbox_digest, drop_inbox_digest


revision: str = 'dbf98ede27e8'
down_revision: str | None = '4d0201a40e28'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_inbox_digest()


def downgrade() -> None:
    drop_inbox_digest()

"""inbox content digest

Revision ID: bf33a90c9705
Revises: e236f2be6719
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_inbox_digest, drop_inbox_digest


revision: str = 'bf33a90c9705'
down_revision: str | None = 'e236f2be6719'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_inbox_digest()


def downgrade() -> None:
    drop_inbox_digest()

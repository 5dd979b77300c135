"""inbox content digest

Revision ID: 1ef9a8949047
Revises: a97afe085bff
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_inbox_digest, drop_inbox_digest


revision: str = '1ef9a8949047'
down_revision: str | None = 'a97afe085bff'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_inbox_digest()


def downgrade() -> None:
    drop_inbox_digest()

"""inbox content digest

Revision ID: a2fa293924b6
Revises: 9960ceb75a3a
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import add_inbox_digest, drop_inbox_digest


revision: str = 'a2fa293924b6'
down_revision: str | None = '9960ceb75a3a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_inbox_digest()


def downgrade() -> None:
    drop_inbox_digest()

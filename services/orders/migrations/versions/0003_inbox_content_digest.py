"""inbox content digest: the inbox keeps what each event said (shared/messaging: an id reused for other content).

Revision ID: a2fa293924b6
Revises: 9960ceb75a3a
Create Date: 2026-12-06 23:00:00.000000
"""

from shared.migrations import add_inbox_digest as upgrade, drop_inbox_digest as downgrade  # noqa: F401

revision = "a2fa293924b6"
down_revision = "9960ceb75a3a"

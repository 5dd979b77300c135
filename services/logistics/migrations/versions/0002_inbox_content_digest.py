"""inbox content digest: the inbox keeps what each event said (shared/messaging: an id reused for other content).

Revision ID: dbf98ede27e8
Revises: 4d0201a40e28
Create Date: 2026-12-06 23:00:00.000000
"""

from shared.migrations import add_inbox_digest as upgrade, drop_inbox_digest as downgrade  # noqa: F401

revision = "dbf98ede27e8"
down_revision = "4d0201a40e28"

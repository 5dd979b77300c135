"""inbox content digest: the inbox keeps what each event said (shared/messaging: an id reused for other content).

Revision ID: bf33a90c9705
Revises: e236f2be6719
Create Date: 2026-12-06 23:00:00.000000
"""

from shared.migrations import add_inbox_digest as upgrade, drop_inbox_digest as downgrade  # noqa: F401

revision = "bf33a90c9705"
down_revision = "e236f2be6719"

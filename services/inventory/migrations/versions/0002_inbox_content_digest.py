"""inbox content digest: the inbox keeps what each event said (shared/messaging: an id reused for other content).

Revision ID: 1ef9a8949047
Revises: a97afe085bff
Create Date: 2026-12-06 23:00:00.000000
"""

from shared.migrations import add_inbox_digest as upgrade, drop_inbox_digest as downgrade  # noqa: F401

revision = "1ef9a8949047"
down_revision = "a97afe085bff"

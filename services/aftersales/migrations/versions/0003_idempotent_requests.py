"""idempotent requests: the idempotent_request table, for Idempotency-Key (shared/idempotency.py).

Revision ID: 8057c24dad44
Revises: bf33a90c9705
Create Date: 2026-12-07 03:00:00.000000
"""

from shared.migrations import add_idempotency_table as upgrade, drop_idempotency_table as downgrade  # noqa: F401

revision = "8057c24dad44"
down_revision = "bf33a90c9705"

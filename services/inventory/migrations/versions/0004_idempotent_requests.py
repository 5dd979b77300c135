"""idempotent requests: the idempotent_request table, for Idempotency-Key on POST /counts and POST /deliveries (shared/idempotency.py).

Revision ID: 8b2f4c6d1e90
Revises: 3c5d0e7a41b2
Create Date: 2026-12-07 03:00:00.000000
"""

from shared.migrations import add_idempotency_table as upgrade, drop_idempotency_table as downgrade  # noqa: F401

revision = "8b2f4c6d1e90"
down_revision = "3c5d0e7a41b2"

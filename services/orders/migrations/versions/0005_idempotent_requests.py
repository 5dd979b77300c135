"""idempotent requests (Idempotency-Key on POST /orders): the idempotent_request table, for Idempotency-Key (shared/idempotency.py).

Revision ID: 7c3e9a1f4b20
Revises: 5b1d0c7e2f94
Create Date: 2026-12-20 10:00:00.000000
"""

from shared.migrations import add_idempotency_table as upgrade, drop_idempotency_table as downgrade  # noqa: F401

revision = "7c3e9a1f4b20"
down_revision = "5b1d0c7e2f94"

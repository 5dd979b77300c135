"""idempotent requests: the answers of POSTs sent with an Idempotency-Key: the idempotent_request table, for Idempotency-Key (shared/idempotency.py).

Revision ID: 5a7c3e91d2b4
Revises: dbf98ede27e8
Create Date: 2026-12-07 03:00:00.000000
"""

from shared.migrations import add_idempotency_table as upgrade, drop_idempotency_table as downgrade  # noqa: F401

revision = "5a7c3e91d2b4"
down_revision = "dbf98ede27e8"

"""Alembic environment of the inventory service: its own tables plus the outbox and inbox."""

from services.inventory.models import TABLES
from shared.migrations import run_env

run_env(TABLES)

"""Alembic environment of the logistics service: its own tables plus the outbox and inbox."""

from services.logistics.models import TABLES
from shared.migrations import run_env

run_env(TABLES)

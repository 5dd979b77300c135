"""Alembic environment of the aftersales service: its own tables plus the outbox and inbox."""

from services.aftersales.models import TABLES
from shared.migrations import run_env

run_env(TABLES)

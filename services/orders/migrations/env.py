"""Alembic environment of the orders service: its own tables plus the outbox and inbox."""

from services.orders.models import TABLES
from shared.migrations import run_env

run_env(TABLES)

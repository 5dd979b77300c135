"""Each service's Alembic history builds exactly the tables its models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.db import make_engine
from shared.messaging import MESSAGING_TABLES
from shared.migrations import has_migrations, metadata_of, upgrade


@pytest.mark.parametrize("service", ["orders", "inventory", "logistics", "aftersales"])
def test_migrations_bring_an_empty_database_to_the_models(service, tmp_path) -> None:
    assert has_migrations(service)
    models = __import__(f"services.{service}.models", fromlist=["TABLES"])
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine, service)
    upgrade(engine, service)  # a second start finds nothing to do
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, metadata_of([*MESSAGING_TABLES, *models.TABLES])) == []

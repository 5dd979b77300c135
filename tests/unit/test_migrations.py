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
    upgrade(engine, service, empty_from_models=False)  # every revision, as an existing database
    upgrade(engine, service)  # a second start finds nothing to do
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, metadata_of([*MESSAGING_TABLES, *models.TABLES])) == []


@pytest.mark.parametrize("service", ["orders", "inventory", "logistics", "aftersales"])
def test_an_empty_database_built_from_the_models_is_the_migrated_one_at_the_newest_revision(service, tmp_path) -> None:
    """The start-up shortcut for an empty database: the same tables, columns and indexes
    (partial ones with their conditions) as replaying the history, stamped at its head, so
    the next revision applies to it as to any other."""
    replayed, built = (make_engine(f"sqlite:///{tmp_path / name}") for name in ("replayed.sqlite", "built.sqlite"))
    upgrade(replayed, service, empty_from_models=False)
    upgrade(built, service)
    schemas = []
    for engine in (replayed, built):
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                        "WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all()
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
            schemas.append(({(kind, name, table) for kind, name, table, _ in rows}, version,
                            {name: _normalised(sql) for kind, name, _, sql in rows if kind == "index" and sql}))
    (replayed_names, replayed_head, replayed_indexes), (built_names, built_head, built_indexes) = schemas
    assert built_names == replayed_names
    assert built_head == replayed_head
    assert built_indexes == replayed_indexes


def _normalised(sql: str) -> str:
    return " ".join(sql.replace('"', "").replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split()).lower()

"""Session fixtures: one real Kafka broker for the whole run, and a fresh test world per test.

The broker is, in order of preference: KAFKA_BOOTSTRAP_SERVERS if set; testcontainers' Kafka
module when a Docker engine answers; otherwise the project's own Apache Kafka broker
(deploy/localkafka.py) on a free loopback port. The run prints which one it used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.world import World

_BROKER_USED: list[str] = []


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def announce(text: str) -> None:
        _BROKER_USED.append(text)
        if reporter is not None:
            reporter.write_line(f"\n[kafka] {text}")

    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        announce(f"using KAFKA_BOOTSTRAP_SERVERS={configured}")
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as container:
            bootstrap = container.get_bootstrap_server()
            announce(f"using testcontainers Kafka at {bootstrap}")
            yield bootstrap
        return
    from deploy import localkafka

    cluster = localkafka.start(port=None, brokers=1, base_dir=tmp_path_factory.mktemp("kafka"))
    announce(f"using the local Apache Kafka {localkafka.KAFKA_VERSION} broker (KRaft) at {cluster.bootstrap_servers}")
    try:
        yield cluster.bootstrap_servers
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """None: each service gets a SQLite file. With TEST_DATABASE=postgres (make test-postgres):
    a local PostgreSQL server for the run, one database per service instance group."""
    if os.environ.get("TEST_DATABASE", "sqlite") != "postgres":
        yield None
        return
    from deploy import localpostgres

    # Not under pytest's tmp dir: the server runs as the `postgres` user, and pytest makes its
    # tmp tree owner-only when another run starts.
    data_dir = Path(tempfile.mkdtemp(prefix="peak-pg-"))
    cluster = localpostgres.start(base_dir=data_dir, durable=False)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    _BROKER_USED.append(f"(services on PostgreSQL at 127.0.0.1:{cluster.port})")
    if reporter is not None:
        reporter.write_line(f"\n[database] PostgreSQL at 127.0.0.1:{cluster.port}")
    try:
        yield cluster.create_database
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def engine_with(tmp_path: Path, databases):
    """`engine_with(tables)`: a fresh database of the run's kind (a SQLite file; PostgreSQL
    under make test-postgres) holding just those tables. Disposed after the test."""
    from shared.db import create_tables, make_engine

    engines = []

    def make(tables):
        url = (databases(f"t_{uuid.uuid4().hex[:8]}") if databases
               else f"sqlite:///{tmp_path / f'db{len(engines)}.sqlite'}")
        engine = make_engine(url)
        create_tables(engine, tables)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def world(kafka_bootstrap: str, tmp_path: Path, databases) -> Iterator[World]:
    """Fresh topics (own prefix), fresh databases, services started on demand, all stopped after."""
    w = World(kafka_bootstrap, tmp_path, databases=databases)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def module_world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, databases) -> Iterator[World]:
    """Like `world`, shared by the tests of one module to save service start-ups."""
    w = World(kafka_bootstrap, tmp_path_factory.mktemp("world"), databases=databases)
    try:
        yield w
    finally:
        w.close()


def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    """Under pytest-xdist (make test) a worker hands the controller the broker it used."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _BROKER_USED:
        workeroutput["broker_used"] = " ".join(_BROKER_USED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    used = getattr(node, "workeroutput", {}).get("broker_used")
    if used:
        _BROKER_USED.append(f"{node.gateway.id}: {used};")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if _BROKER_USED:
        terminalreporter.write_line(f"[kafka] broker for this run: {' '.join(_BROKER_USED)}")

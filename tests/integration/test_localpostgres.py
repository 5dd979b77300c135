"""Real-server tests for deploy/localpostgres.py (Debian's PostgreSQL; installed with apt-get if missing)."""

import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deploy import localpostgres

# A PostgreSQL server initialised per test: `make test-slow` (`make test-postgres` runs one for every suite).
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def tmp_path():
    """A scratch dir straight under /tmp instead of pytest's: the server runs as the postgres user,
    which must traverse every parent dir, and each new pytest run (anyone's) resets the shared
    /tmp/pytest-of-<user> root to 0700."""
    path = Path(tempfile.mkdtemp(prefix="localpostgres-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _port_closed(port):
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((localpostgres.HOST, port)) != 0


def _query(cluster, dbname, sql):
    """One round trip through psycopg if it is installed, else through the psql binary."""
    try:
        import psycopg
    except ImportError:
        return cluster.psql(sql, dbname=dbname)
    with psycopg.connect(cluster.url(dbname, driver=""), connect_timeout=5) as conn:
        cursor = conn.execute(sql)
        return str(cursor.fetchone()[0]) if cursor.description else ""


def test_starts_creates_a_database_and_stops(tmp_path):
    base = tmp_path / "pg"
    cluster = localpostgres.start(port=None, base_dir=base, durable=False)
    try:
        assert cluster.is_running() and cluster.accepts_connections()
        assert cluster.url("orders") == f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/orders"

        assert cluster.create_database("orders") == cluster.url("orders")
        cluster.create_database("orders")  # idempotent
        assert _query(cluster, "orders", "SELECT current_database()") == "orders"
        _query(cluster, "orders", "CREATE TABLE IF NOT EXISTS probe (id int)")

        # Listens on loopback only, with the socket in the data dir.
        assert cluster.psql("SHOW listen_addresses") == "127.0.0.1"
        assert cluster.psql("SHOW unix_socket_directories") in (str(cluster.data_dir), "")
        assert localpostgres.status(base)

        # start() on a running dir hands back the same server instead of a second one.
        again = localpostgres.start(base_dir=base)
        assert again.port == cluster.port
    finally:
        cluster.stop()
    assert not cluster.is_running()
    assert _port_closed(cluster.port)
    assert not localpostgres.status(base)


def test_restart_keeps_the_data_and_the_port(tmp_path):
    base = tmp_path / "pg"
    with localpostgres.start(base_dir=base, durable=False) as first:
        first.create_database("inventory")
        port = first.port
    with localpostgres.start(base_dir=base) as second:
        assert second.port == port
        assert second.psql("SELECT 1 FROM pg_database WHERE datname = 'inventory'") == "1"


def test_cli_start_url_status_stop(tmp_path):
    base = str(tmp_path / "pg")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "deploy.localpostgres", *args, "--dir", base],
                              capture_output=True, text=True, cwd=localpostgres.REPO_ROOT, timeout=120)

    free = localpostgres._free_port()
    try:
        started = cli("start", "--port", str(free), "--db", "logistics")
        assert started.returncode == 0, started.stderr
        assert started.stdout.split() == [f"postgresql+psycopg://postgres@127.0.0.1:{free}/logistics"]
        assert cli("url", "--db", "aftersales").stdout.strip().endswith(f":{free}/aftersales")
        assert cli("status").returncode == 0
    finally:
        stopped = cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert cli("status").returncode == 1
    assert _port_closed(free)


def test_rejects_database_names_that_would_need_quoting(tmp_path):
    cluster = localpostgres.Cluster(tmp_path, 1, tmp_path)
    with pytest.raises(ValueError):
        cluster.create_database('x"; DROP DATABASE postgres; --')


def test_compose_init_script_gives_each_service_its_own_database(tmp_path):
    """deploy/postgres/init-databases.sql (run by the postgres container) on a real server."""
    script = localpostgres.REPO_ROOT / "deploy" / "postgres" / "init-databases.sql"
    with localpostgres.start(base_dir=tmp_path / "pg", durable=False) as cluster:
        done = subprocess.run([str(cluster.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-h", localpostgres.HOST, "-p", str(cluster.port), "-U", "postgres",
                               "-d", "postgres", "-f", str(script)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        for service in ("orders", "inventory", "logistics", "aftersales"):
            owner = cluster.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{service}'")
            assert owner == service
            # The owner may create its tables in the public schema (PostgreSQL 15+ no longer lets anyone).
            done = subprocess.run([str(cluster.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                   "-h", localpostgres.HOST, "-p", str(cluster.port), "-U", service, "-d", service,
                                   "-c", "CREATE TABLE probe (id int); DROP TABLE probe;"],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        # ...and no service may even connect to another's database.
        denied = subprocess.run([str(cluster.bin_dir / "psql"), "-X", "-h", localpostgres.HOST,
                                 "-p", str(cluster.port), "-U", "inventory", "-d", "orders", "-c", "SELECT 1"],
                                capture_output=True, text=True, timeout=60)
        assert denied.returncode != 0 and "permission denied" in denied.stderr

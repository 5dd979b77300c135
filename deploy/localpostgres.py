"""Run a real PostgreSQL server on this machine, without Docker.

The server comes from Debian's `postgresql` package (installed with apt-get when
`initdb` is missing; that needs root). The cluster lives in its own data dir
(default var/postgres, git-ignored), listens on 127.0.0.1 only, keeps its unix
socket in the data dir, and trusts loopback connections: it is for development
and tests, never for production.

CLI:
    python -m deploy.localpostgres start  [--port 5432] [--dir var/postgres]
    python -m deploy.localpostgres status [--dir var/postgres]
    python -m deploy.localpostgres url    [--db NAME] [--dir var/postgres]
    python -m deploy.localpostgres stop   [--dir var/postgres]

API (for pytest fixtures and `make test-postgres`):
    cluster = start(port=None, base_dir=tmp_path)
    cluster.create_database("orders")       # idempotent
    cluster.url("orders")                   # "postgresql+psycopg://postgres@127.0.0.1:40123/orders"
    cluster.stop()

PostgreSQL refuses to run as root: as root, the server and initdb run as the
`postgres` system user (created by the package) through `runuser`, and the data
dir is owned by that user. Only the standard library is used, so this works
before the project's Python dependencies are installed.

The binaries and the server's account live in deploy/localpostgres_install.py; what this module
shares with deploy/localkafka.py (ports, waits, stopping, the state file) in
deploy/local_process.py.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.local_process import (HOST, choose_ports, free_port, live_cmdline, log_banner, port_is_free,
                                  read_state, resolve_dir, run_captured, signal_process, tail, wait_for,
                                  write_state)
from deploy.localpostgres_install import (INSTALL_LOCK, SYSTEM_USER, LocalPostgresError, as_server_user,
                                          ensure_installed, find_bin_dir, give_to_server_user,
                                          make_reachable)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "var" / "postgres"
DEFAULT_PORT = 5432
SUPERUSER = "postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
STATE_FILE = "cluster.json"
# sockaddr_un.sun_path is 108 bytes including the trailing NUL.
MAX_SOCKET_PATH = 107
# A failed start quotes this many of the server log's last lines.
LOG_TAIL_LINES = 30

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# This module's API as it was before the split: callers import these names from here, wherever
# they are defined now.
__all__ = [
    "REPO_ROOT", "DEFAULT_DIR", "DEFAULT_PORT", "HOST", "SUPERUSER", "SYSTEM_USER", "START_TIMEOUT",
    "STOP_TIMEOUT", "STATE_FILE", "INSTALL_LOCK", "MAX_SOCKET_PATH", "LocalPostgresError",
    "find_bin_dir", "ensure_installed", "Cluster", "start", "stop", "status", "main",
]
# tests/integration/test_localpostgres.py picks a port for the CLI with it.
_free_port = free_port


def _run(cmd: list[str], what: str, timeout: float = 120.0) -> str:
    done = run_captured(cmd, stdin=subprocess.DEVNULL, timeout=timeout, cwd="/")
    if done.returncode != 0:
        raise LocalPostgresError(f"{what} failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-4000:]}")
    return done.stdout


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

def _choose_port(requested: int | None, saved: int | None, fallback: int | None) -> int:
    """requested > saved (if free) > fallback (if free) > OS-chosen."""
    if requested:
        if not port_is_free(requested):
            raise LocalPostgresError(f"port {requested} is already in use on {HOST}")
        return requested
    return choose_ports(1, [saved] if saved else None, [fallback] if fallback else None)[0]


# --------------------------------------------------------------------------
# Cluster
# --------------------------------------------------------------------------

@dataclass
class Cluster:
    """One local PostgreSQL server and its data dir."""

    base_dir: Path
    port: int
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def socket_dir(self) -> str:
        """The data dir, unless its socket path would be too long (then TCP only)."""
        path = f"{self.data_dir}/.s.PGSQL.{self.port}"
        return str(self.data_dir) if len(path.encode()) <= MAX_SOCKET_PATH else ""

    def url(self, dbname: str = "postgres", driver: str = "psycopg") -> str:
        """SQLAlchemy URL of database `dbname` (driver "" gives a plain libpq URL)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state -----------------------------------------------------------

    def pid(self) -> int | None:
        """The postmaster's pid if it is running on this data dir."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first.strip())
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is_postmaster(pid, self.data_dir) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def accepts_connections(self) -> bool:
        done = subprocess.run([str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port),
                               "-U", SUPERUSER, "-d", "postgres", "-t", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return done.returncode == 0

    def _save_state(self) -> None:
        state = {"port": self.port, "bin_dir": str(self.bin_dir), "data_dir": str(self.data_dir),
                 "pid": self.pid(), "url": self.url("postgres"), "log": str(self.log)}
        write_state(self.base_dir / STATE_FILE, state)

    @classmethod
    def load(cls, base_dir: str | os.PathLike | None = None) -> "Cluster":
        base = _resolve_dir(base_dir)
        state = read_state(base / STATE_FILE)
        if state is None:
            raise LocalPostgresError(f"no local PostgreSQL in {base} (missing {STATE_FILE})")
        return cls(base, int(state["port"]), Path(state["bin_dir"]))

    # -- SQL ---------------------------------------------------------------

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql over TCP as the superuser; returns unaligned tuples-only output."""
        cmd = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-c", sql]
        return _run(cmd, "psql", timeout=60).strip()

    def create_database(self, name: str) -> str:
        """Create database `name` unless it exists; returns its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists != "1":
            try:
                self.psql(f'CREATE DATABASE "{name}"')
            except LocalPostgresError as exc:
                if "already exists" not in str(exc):  # created concurrently
                    raise
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- lifecycle ---------------------------------------------------------

    def _init_if_needed(self) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return  # already initialised: initdb would refuse a non-empty dir anyway
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        give_to_server_user(self.data_dir)
        # --auth=trust: loopback only (see listen_addresses), for development and tests.
        cmd = as_server_user([str(self.bin_dir / "initdb"), "-D", str(self.data_dir),
                              "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale",
                              "--no-instructions"])
        _run(cmd, "initdb")

    def _start(self, timeout: float, durable: bool) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        make_reachable(self.base_dir / "data")
        self._init_if_needed()
        self.log.touch()
        give_to_server_user(self.log)
        settings = {
            "listen_addresses": HOST,
            "port": self.port,
            "unix_socket_directories": self.socket_dir,
            "max_connections": 200,  # four services x (pool 10 + overflow 10) + tests
        }
        if not durable:
            # Tests throw the data away: skip the fsyncs that dominate their run time.
            settings.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
        options = " ".join(f"-c {k}={shlex.quote(str(v))}" for k, v in settings.items())
        log_banner(self.log, f"localpostgres: starting on {HOST}:{self.port}")
        cmd = as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log),
                              "-o", options, "-w", "-t", str(int(timeout)), "start"])
        try:
            _run(cmd, "pg_ctl start", timeout=timeout + 30)
            self._wait_until_ready(timeout)
        except BaseException as exc:
            self.stop()
            if isinstance(exc, LocalPostgresError):
                raise LocalPostgresError(f"{exc}\n--- {self.log} ---\n{tail(self.log, LOG_TAIL_LINES)}") from None
            raise
        finally:
            self._save_state()

    def _wait_until_ready(self, timeout: float) -> None:
        def ready() -> bool:
            if self.accepts_connections():
                return True
            # A server that exited will never accept: say so now rather than at the deadline.
            if not self.is_running():
                raise LocalPostgresError("PostgreSQL exited during start-up")
            return False

        if not wait_for(ready, timeout, 0.2):
            raise LocalPostgresError(f"PostgreSQL not accepting connections after {timeout:.0f}s")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit); the data stays.

        Signals, not `pg_ctl stop`, so stopping works for root even where the postgres user
        can no longer reach the data dir.
        """
        pid = self.pid()
        if pid is not None:
            # The postmaster, not its process group: it shuts its own backends down as each signal
            # asks (SIGQUIT: immediate, no checkpoint; SIGKILL: as after a crash).
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
                if not signal_process(pid, sig):
                    break
                if wait_for(lambda: not _is_postmaster(pid, self.data_dir), wait, 0.1):
                    break
                print(f"localpostgres: server {pid} still running after {sig.name}", file=sys.stderr)
        if self.base_dir.is_dir():
            self._save_state()


def _is_postmaster(pid: int, data_dir: Path) -> bool:
    # The command line must name this data dir: a stale pid file may point at an unrelated process.
    cmdline = live_cmdline(pid)
    return (cmdline is not None and any(b"postgres" in part for part in cmdline[:1])
            and str(data_dir).encode() in cmdline)


def _resolve_dir(base_dir: str | os.PathLike | None) -> Path:
    return resolve_dir(base_dir, DEFAULT_DIR)


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------

def start(port: int | None = None, base_dir: str | os.PathLike | None = None,
          timeout: float = START_TIMEOUT, durable: bool = True,
          default_port: int | None = None) -> Cluster:
    """Start (or resume) a local PostgreSQL server and wait until it accepts connections.

    port: None = the port this dir used last time if free, else `default_port` if free,
    else any free port. An already running server on base_dir is returned as it is.
    durable=False turns fsync off (for throwaway test data).
    """
    base = _resolve_dir(base_dir)
    saved = None
    if (base / STATE_FILE).is_file():
        old = Cluster.load(base)
        if old.is_running():
            if port and port != old.port:
                raise LocalPostgresError(f"PostgreSQL in {base} is already running on port {old.port}")
            return old
        saved = old.port
    bin_dir = ensure_installed()
    cluster = Cluster(base, _choose_port(port, saved, default_port), bin_dir)
    began = time.monotonic()
    cluster._start(timeout, durable)
    print(f"localpostgres: PostgreSQL up at {HOST}:{cluster.port} in {time.monotonic() - began:.1f}s "
          f"(data {cluster.data_dir})", file=sys.stderr)
    return cluster


def stop(base_dir: str | os.PathLike | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the server recorded in base_dir, from any process."""
    cluster = Cluster.load(base_dir)
    if not cluster.is_running():
        print(f"localpostgres: nothing running in {cluster.base_dir}")
        return
    cluster.stop(timeout)
    print(f"localpostgres: stopped PostgreSQL in {cluster.base_dir}")


def status(base_dir: str | os.PathLike | None = None) -> bool:
    """Print the server's state; True only if it runs and accepts connections."""
    try:
        cluster = Cluster.load(base_dir)
    except LocalPostgresError as e:
        print(f"localpostgres: {e}")
        return False
    running = cluster.is_running()
    answers = running and cluster.accepts_connections()
    print(f"url={cluster.url()}")
    print(f"pid={cluster.pid()} running={running} accepts_connections={answers} "
          f"port={cluster.port} data={cluster.data_dir} log={cluster.log}")
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.localpostgres",
                                     description="Run a local PostgreSQL server for development and tests.")
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    parser.add_argument("--port", type=int, default=None,
                        help=f"port to listen on (default: last one used, else {DEFAULT_PORT} if free, "
                             "else any free port)")
    parser.add_argument("--dir", default=None, help=f"base dir (default {DEFAULT_DIR.relative_to(REPO_ROOT)})")
    parser.add_argument("--db", action="append", default=[],
                        help="database to create (start) or print the URL of (url); repeatable")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            cluster = start(args.port, args.dir, default_port=DEFAULT_PORT)
            for name in args.db:
                print(cluster.create_database(name))
            if not args.db:
                print(cluster.url())
            return 0
        if args.command == "stop":
            stop(args.dir)
            return 0
        if args.command == "url":
            cluster = Cluster.load(args.dir)
            for name in args.db or ["postgres"]:
                print(cluster.url(name))
            return 0
        return 0 if status(args.dir) else 1
    except LocalPostgresError as e:
        print(f"localpostgres: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

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
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "var" / "postgres"
DEFAULT_PORT = 5432
HOST = "127.0.0.1"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
STATE_FILE = "cluster.json"
INSTALL_LOCK = Path("/tmp/localpostgres-install.lock")
# sockaddr_un.sun_path is 108 bytes including the trailing NUL.
MAX_SOCKET_PATH = 107

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class LocalPostgresError(RuntimeError):
    """Anything that keeps the local server from installing, starting or stopping."""


# --------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------

def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<ver>/bin with initdb, else the dir of `initdb` on PATH."""
    root = Path("/usr/lib/postgresql")
    versions = []
    if root.is_dir():
        for child in root.iterdir():
            if (child / "bin" / "initdb").is_file() and child.name.replace(".", "").isdigit():
                versions.append(child)
    if versions:
        newest = max(versions, key=lambda p: [int(x) for x in p.name.split(".")])
        return newest / "bin"
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    return None


def ensure_installed() -> Path:
    """Return the server's bin dir, installing Debian's `postgresql` package if it is missing."""
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() != 0:
        raise LocalPostgresError("PostgreSQL is not installed and installing it needs root: "
                                 "run `sudo apt-get install -y postgresql`, then try again")
    apt = shutil.which("apt-get")
    if apt is None:
        raise LocalPostgresError("PostgreSQL is not installed and apt-get is missing: "
                                 "install the PostgreSQL server (initdb, postgres, pg_ctl) by hand")
    # Several test sessions may start at once: one installs, the others wait and reuse it.
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bin_dir = find_bin_dir()
        if bin_dir is not None:
            return bin_dir
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock_wait = ["-o", "DPkg::Lock::Timeout=300"]
        for cmd in ([apt, *lock_wait, "update"],
                    [apt, *lock_wait, "install", "-y", "postgresql"]):
            print(f"localpostgres: {' '.join(cmd)}", file=sys.stderr)
            done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
            if done.returncode != 0:
                raise LocalPostgresError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                                         f"{done.stdout[-4000:]}")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise LocalPostgresError("installed `postgresql` but found no initdb under /usr/lib/postgresql")
    return bin_dir


# --------------------------------------------------------------------------
# Running as the right user
# --------------------------------------------------------------------------

def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None = the current user; as root, `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    # initdb found without Debian's package (which creates the user): create it.
    done = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                           SYSTEM_USER], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0 and "already exists" not in done.stdout:
        raise LocalPostgresError(f"cannot create the `{SYSTEM_USER}` user:\n{done.stdout}")
    return pwd.getpwnam(SYSTEM_USER)


def _as_server_user(cmd: list[str]) -> list[str]:
    user = _server_user()
    if user is None:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", user.pw_name, "--", *cmd]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *cmd]
    raise LocalPostgresError("running as root, but neither runuser nor setpriv is available "
                             "to run PostgreSQL as the postgres user")


def _give_to_server_user(path: Path) -> None:
    user = _server_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _make_reachable(path: Path) -> None:
    """Let the server user traverse every parent of `path` (e.g. a 0700 home dir).

    Only search permission (o+x) is added, never read: names stay unlisted.
    """
    user = _server_user()
    if user is None:
        return
    for parent in reversed(path.parents):
        st = parent.stat()
        if st.st_uid == user.pw_uid or st.st_mode & stat.S_IXOTH:
            continue
        if st.st_gid == user.pw_gid and st.st_mode & stat.S_IXGRP:
            continue
        if parent.name.startswith("pytest-of-"):
            # Every new pytest run, anyone's, resets this root to 0700: the server would lose its
            # data dir mid-run. Fail clearly instead of flakily.
            raise LocalPostgresError(f"the postgres user cannot reach {path}: {parent} is reset to 0700 by "
                                     "pytest; use tempfile.mkdtemp() under /tmp, or a dir under var/")
        os.chmod(parent, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        print(f"localpostgres: added o+x on {parent} so the postgres user can reach its data dir",
              file=sys.stderr)


def _run(cmd: list[str], what: str, timeout: float = 120.0) -> str:
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd="/")
    if done.returncode != 0:
        raise LocalPostgresError(f"{what} failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-4000:]}")
    return done.stdout


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _choose_port(requested: int | None, saved: int | None, fallback: int | None) -> int:
    """requested > saved (if free) > fallback (if free) > OS-chosen."""
    if requested:
        if not _port_is_free(requested):
            raise LocalPostgresError(f"port {requested} is already in use on {HOST}")
        return requested
    for candidate in (saved, fallback):
        if candidate and _port_is_free(candidate):
            return candidate
    return _free_port()


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
        path = self.base_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, base_dir: str | os.PathLike | None = None) -> "Cluster":
        base = _resolve_dir(base_dir)
        path = base / STATE_FILE
        if not path.is_file():
            raise LocalPostgresError(f"no local PostgreSQL in {base} (missing {STATE_FILE})")
        state = json.loads(path.read_text())
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
        _give_to_server_user(self.data_dir)
        # --auth=trust: loopback only (see listen_addresses), for development and tests.
        cmd = _as_server_user([str(self.bin_dir / "initdb"), "-D", str(self.data_dir),
                               "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale",
                               "--no-instructions"])
        _run(cmd, "initdb")

    def _start(self, timeout: float, durable: bool) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        _make_reachable(self.base_dir / "data")
        self._init_if_needed()
        self.log.touch()
        _give_to_server_user(self.log)
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
        with open(self.log, "a") as log:
            log.write(f"\n=== localpostgres: starting on {HOST}:{self.port} at {time.ctime()} ===\n")
        cmd = _as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log),
                               "-o", options, "-w", "-t", str(int(timeout)), "start"])
        try:
            _run(cmd, "pg_ctl start", timeout=timeout + 30)
            self._wait_until_ready(timeout)
        except BaseException as exc:
            self.stop()
            if isinstance(exc, LocalPostgresError):
                raise LocalPostgresError(f"{exc}\n--- {self.log} ---\n{_tail(self.log)}") from None
            raise
        finally:
            self._save_state()

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.accepts_connections():
            if not self.is_running():
                raise LocalPostgresError("PostgreSQL exited during start-up")
            if time.monotonic() > deadline:
                raise LocalPostgresError(f"PostgreSQL not accepting connections after {timeout:.0f}s")
            time.sleep(0.2)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit); the data stays.

        Signals, not `pg_ctl stop`, so stopping works for root even where the postgres user
        can no longer reach the data dir.
        """
        pid = self.pid()
        if pid is not None:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                if _wait_gone(pid, self.data_dir, wait):
                    break
                print(f"localpostgres: server {pid} still running after {sig.name}", file=sys.stderr)
        if self.base_dir.is_dir():
            self._save_state()


def _is_postmaster(pid: int, data_dir: Path) -> bool:
    # The command line must name this data dir: a stale pid file may point at an unrelated process.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z" and any(b"postgres" in part for part in cmdline[:1]) and str(data_dir).encode() in cmdline


def _wait_gone(pid: int, data_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_postmaster(pid, data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _resolve_dir(base_dir: str | os.PathLike | None) -> Path:
    return Path(base_dir).resolve() if base_dir is not None else DEFAULT_DIR


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

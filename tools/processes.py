"""Runs services as real processes (`python -m services.<name>`): used by the tests, the
benchmark and the simulator, each with its own port, database and log file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIR = REPO_ROOT / "test-output"
ENV_PREFIX = {"orders": "ORDERS", "inventory": "INVENTORY", "logistics": "LOGISTICS", "aftersales": "AFTERSALES"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a live process from /proc (Linux); None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the ")" closing the command name, utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServiceProcess:
    """One service instance: its own port, database file and log file."""

    def __init__(self, name: str, *, bootstrap: str, topic_prefix: str, db_dir: Path,
                 instance: str = "1", settings: dict[str, str] | None = None,
                 database_url: str | None = None, log_dir: Path | None = None) -> None:
        self.name = name
        self.instance = instance
        prefix = ENV_PREFIX[name]
        self.port = free_port()
        self.db_path = db_dir / f"{name}.sqlite"  # SQLite only; prefer `database_url`
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "KAFKA_CREATE_TOPICS": "false",  # the test world created them
            f"{prefix}_HTTP_PORT": str(self.port),
            f"{prefix}_DATABASE_URL": self.database_url,
            f"{prefix}_RELAY_INTERVAL_S": "0.05",
            "PYTHONUNBUFFERED": "1",
        }
        for key, value in (settings or {}).items():
            self.env[key if key.startswith(prefix + "_") or key.startswith("KAFKA_") else f"{prefix}_{key.upper()}"] = value
        self.log_path = (log_dir or OUTPUT_DIR / "logs") / f"{topic_prefix.rstrip('.') or 'run'}-{name}-{instance}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0, *, broker: bool = True) -> "ServiceProcess":
        """Waits until the service answers with its broker connected (`/brokerz` 200), or, with
        broker=False, until it is ready to take work (`/readyz` 200: its database answers)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", f"services.{self.name}"], cwd=REPO_ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.wait_ready(timeout_s, broker=broker)
        return self

    def wait_ready(self, timeout_s: float = 60.0, *, broker: bool = True) -> None:
        probe = "/brokerz" if broker else "/readyz"
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                r = httpx.get(self.url + probe, timeout=5)
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s ({last}); see {self.log_path}")

    def sql(self, query: str, **params) -> list[tuple]:
        """Read the service's own database (SQLite or PostgreSQL) for assertions."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(query), params)]
        finally:
            engine.dispose()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time the process has used so far (all its threads)."""
        return process_cpu_seconds(self.pid) if self.proc is not None and self.proc.poll() is None else None

    def peak_rss_mib(self) -> float | None:
        """The process's peak resident memory (VmHWM), while it runs."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

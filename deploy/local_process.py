"""What deploy/localkafka.py and deploy/localpostgres.py both need to run a server on this machine.

Each starts a real server as a child of a dev shell or a test session, on loopback, with its own
data dir, state file and log file, and each must stop it again even from another process that
only has the state file. The same care applied twice (ports that may be taken, waits with a
deadline, a recorded pid that may now belong to someone else, a stop that escalates) now lives
once, here.

Only the standard library, like its two callers: they run before the project's Python
dependencies are installed. (tools/processes.py runs the services over HTTP with httpx, so it
cannot serve here.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Loopback only: these servers trust every connection (PostgreSQL) or speak plaintext (Kafka by
# default), so nothing beyond this machine may reach them.
HOST = "127.0.0.1"


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """`count` distinct ports the OS has just called free on HOST."""
    # Hold every socket until all are bound so the OS cannot hand out a port twice.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM and PostgreSQL use, so a port in TIME_WAIT counts as free.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def choose_ports(count: int, *candidates: Sequence[int] | None) -> list[int]:
    """The first candidate whose ports are all still free, else `count` OS-chosen ones.

    A resumed server prefers the ports it had (clients and state files keep pointing at them),
    but never fails for want of them; None or empty candidates are skipped.
    """
    for ports in candidates:
        if ports and all(port_is_free(p) for p in ports):
            return list(ports)
    return free_ports(count)


# --------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------

def wait_for(condition: Callable[[], bool], timeout: float, interval: float) -> bool:
    """Poll `condition` every `interval` s until it holds (True) or `timeout` s pass (False).

    The condition is asked before the deadline is, so timeout=0 asks once and never sleeps;
    it may raise to give up early (a server that exited during start-up will never be ready).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

def live_cmdline(pid: int) -> list[bytes] | None:
    """The NUL-split command line of running process `pid`; None if it is gone or a zombie.

    Callers match it against their server before trusting a pid from a state or pid file:
    after a crash or reboot that pid may belong to an unrelated process, which must never be
    signalled.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else cmdline


def signal_process(pid: int, sig: signal.Signals, group: bool = False) -> bool:
    """Send `sig` to `pid` (to its whole process group with group=True); False if it is gone."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def run_captured(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a one-off tool (mvn, initdb, openssl, apt-get...) with stdout and stderr as one text,
    so a failure can quote the tool's own last words in the error."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def spawn_logged(cmd: list[str], log_path: Path, banner: str, cwd: Path) -> subprocess.Popen:
    """Start a long-running server with its output appended to `log_path`, after `banner`."""
    with open(log_path, "ab") as log:
        log.write(_banner_line(banner).encode())
        log.flush()
        # Own session/process group: a Ctrl-C in the caller's terminal must not kill the
        # server, and a stop can signal the whole group.
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)


def log_banner(log_path: Path, banner: str) -> None:
    """Mark a new start in a log file that several runs append to, so each run's lines are found."""
    with open(log_path, "a") as log:
        log.write(_banner_line(banner))


def _banner_line(banner: str) -> str:
    return f"\n=== {banner} at {time.ctime()} ===\n"


def tail(path: Path, lines: int) -> str:
    """The last lines of a server's log, for the error that says why it did not start."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------
# Data dir and state file
# --------------------------------------------------------------------------

def resolve_dir(base_dir: str | os.PathLike | None, default: Path) -> Path:
    return Path(base_dir).resolve() if base_dir is not None else default


def write_state(path: Path, state: dict, private: bool = False) -> None:
    """Write the JSON state file atomically: `status`/`stop` in another process may read it now.

    private=True keeps it owner-only (it holds passwords)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    if private:
        os.chmod(tmp, 0o600)
    tmp.replace(path)


def read_state(path: Path) -> dict | None:
    """The state file's content; None when no server was ever started in that dir."""
    if not path.is_file():
        return None
    return json.loads(path.read_text())

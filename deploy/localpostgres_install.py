"""The local PostgreSQL server's binaries and the account it runs as.

The server comes from Debian's `postgresql` package, installed with apt-get when `initdb` is
missing (that needs root). PostgreSQL refuses to run as root, so as root the server and initdb
run as the `postgres` system user through `runuser` (or `setpriv`), and that user must own the
data dir and be able to reach it.

LocalPostgresError is defined here, the lowest layer, so this module needs nothing from
deploy/localpostgres.py; that module re-exports it and every name below that it had before.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from deploy.local_process import run_captured

SYSTEM_USER = "postgres"
INSTALL_LOCK = Path("/tmp/localpostgres-install.lock")


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
            done = run_captured(cmd, env=env, stdin=subprocess.DEVNULL)
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
    done = run_captured(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                         SYSTEM_USER])
    if done.returncode != 0 and "already exists" not in done.stdout:
        raise LocalPostgresError(f"cannot create the `{SYSTEM_USER}` user:\n{done.stdout}")
    return pwd.getpwnam(SYSTEM_USER)


def as_server_user(cmd: list[str]) -> list[str]:
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


def give_to_server_user(path: Path) -> None:
    user = _server_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def make_reachable(path: Path) -> None:
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

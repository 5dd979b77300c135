"""requirements.lock: every package the project installs, pinned with == and the hashes of its files.

    python -m tools.lock                 # re-lock after a change to pyproject.toml (`make lock`)
    python -m tools.lock --upgrade       # move every pin to the newest release the bounds allow
    python -m tools.lock --from-venv     # pin exactly what .venv has (what the last test run used)
    python -m tools.lock --runtime       # print the lock's runtime part (deploy/Dockerfile)

Run it as a module from the repository root: run as `python tools/lock.py`, its folder comes
first on the import path, and tools/token.py (`python -m tools.token`) would stand in for the
standard library's `token` module. (The Dockerfile copies lock.py alone, so it may run it as a file.)

The lock covers the dependencies and the `test` and `demo` extras, resolved by pip-compile
(pip-tools) for the Python that runs this script: CPython 3.11 on Linux, as `make install` and
deploy/Dockerfile use. pip-compile keeps the pins already in the lock unless told to upgrade,
so adding a dependency changes only the lines it brings; --from-venv first writes .venv's
`pip freeze` into the lock, so the new pins are the versions the suite last ran with.

`make install` installs the whole lock and then the project itself with --no-deps, so nothing
is resolved at install time. The service image needs only the runtime part: --runtime prints the
lock's entries (with their hashes) that the project's own `dependencies` need, found through
pip-compile's "# via" annotations, so the image gets the same versions without the test tools.

Standard library only: it runs before, and to make, the project's install.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
LOCK = REPO_ROOT / "requirements.lock"
PROJECT_VENV = REPO_ROOT / ".venv"
# pip-compile gets a venv of its own: pip-tools relies on pip's internals, so it runs with the pip
# its release installs beside it, whatever pip .venv has. The pin makes the lock's format repeatable.
PIP_TOOLS = "pip-tools==7.6.2"
TOOLS_VENV = REPO_ROOT / "var" / "lock-tools"
EXTRAS = ("test", "demo")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def normalize(name: str) -> str:
    """PEP 503: the lock, pip freeze and pyproject.toml spell the same package differently."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_compile() -> Path:
    exe = TOOLS_VENV / "bin" / "pip-compile"
    stamp = TOOLS_VENV / "pip-tools.txt"
    if exe.exists() and stamp.is_file() and stamp.read_text().strip() == PIP_TOOLS:
        return exe
    print(f"lock: installing {PIP_TOOLS} into {TOOLS_VENV.relative_to(REPO_ROOT)}", file=sys.stderr)
    venv.create(TOOLS_VENV, with_pip=True, clear=True)
    subprocess.run([str(TOOLS_VENV / "bin" / "pip"), "install", "--quiet", PIP_TOOLS], check=True)
    stamp.write_text(PIP_TOOLS + "\n")
    return exe


def _seed_from_venv() -> None:
    """Write .venv's installed versions into the lock, for pip-compile to keep as its pins."""
    python = PROJECT_VENV / "bin" / "python"
    if not python.exists():
        sys.exit(f"lock: --from-venv needs {PROJECT_VENV.relative_to(REPO_ROOT)} (make install)")
    frozen = subprocess.run([str(python), "-m", "pip", "freeze", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout
    project = normalize(tomllib.loads(PYPROJECT.read_text())["project"]["name"])
    pins = [line for line in frozen.splitlines()
            if "==" in line and normalize(line.split("==", 1)[0]) != project]
    LOCK.write_text("\n".join(pins) + "\n")


def lock(upgrade: bool = False, from_venv: bool = False) -> None:
    compile_ = _pip_compile()
    if from_venv:
        _seed_from_venv()
    cmd = [str(compile_), "--quiet", "--generate-hashes", "--strip-extras", "--allow-unsafe",
           # Index and find-links are this machine's pip settings, not the project's.
           "--no-emit-index-url", "--no-emit-find-links", "--output-file", str(LOCK.relative_to(REPO_ROOT))]
    for extra in EXTRAS:
        cmd += ["--extra", extra]
    if upgrade:
        cmd.append("--upgrade")
    cmd.append(str(PYPROJECT.relative_to(REPO_ROOT)))
    # The header of the lock says how to make it again.
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "make lock"}
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, env=env)
    print(f"lock: wrote {LOCK.relative_to(REPO_ROOT)} ({len(parse_lock(LOCK.read_text()))} packages)",
          file=sys.stderr)


def parse_lock(text: str) -> dict[str, tuple[str, set[str]]]:
    """{normalized name: (the entry's lines, the names in its `# via` note)} of a pip-compile lock."""
    entries: dict[str, tuple[str, set[str]]] = {}
    name, lines, via, in_via = None, [], set(), False

    def close() -> None:
        if name is not None:
            entries[name] = ("\n".join(lines), via)

    for line in text.splitlines():
        stripped = line.strip()
        if line and not line[0].isspace() and not line.startswith(("#", "-")):
            close()
            name, lines, via, in_via = normalize(_NAME.match(line).group(0)), [line], set(), False
        elif name is None:
            continue
        elif stripped.startswith("--hash") or stripped.endswith("\\"):
            lines.append(line)
        elif stripped.startswith("# via"):
            in_via = True
            rest = stripped[len("# via"):].strip()
            if rest:  # one parent: "# via faststream"
                via.add(rest)
        elif in_via and stripped.startswith("#   "):
            via.add(stripped[1:].strip())
        elif not stripped:
            in_via = False
    close()
    return entries


def runtime_requirements(lock_text: str, dependencies: list[str]) -> str:
    """The lock's entries that `dependencies` (pyproject's, without extras) need, hashes included.

    A package belongs if it is one of `dependencies`, or any package it is `# via` belongs. The
    notes name parents without the extra that brought a package, so an entry a runtime package
    needs only for an extra the test tools ask for may come too: more than needed, never less,
    which pip checks anyway (with hashes, it refuses to install a dependency the file lacks).
    """
    entries = parse_lock(lock_text)
    needed = {normalize(_NAME.match(dep).group(0)) for dep in dependencies}
    missing = needed - entries.keys()
    if missing:
        raise SystemExit(f"lock: {sorted(missing)} not in {LOCK.name}; run `make lock`")
    changed = True
    while changed:
        changed = False
        for name, (_lines, via) in entries.items():
            if name not in needed and any(normalize(parent) in needed for parent in via):
                needed.add(name)
                changed = True
    return "".join(entries[name][0] + "\n" for name in entries if name in needed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lock", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--upgrade", action="store_true", help="newest releases within pyproject's bounds")
    mode.add_argument("--from-venv", action="store_true", help="pin the versions installed in .venv")
    mode.add_argument("--runtime", action="store_true",
                      help="print the runtime part of the lock (no test or demo packages) and exit")
    args = parser.parse_args(argv)
    if args.runtime:
        dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
        sys.stdout.write(runtime_requirements(LOCK.read_text(), dependencies))
        return 0
    lock(upgrade=args.upgrade, from_venv=args.from_venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

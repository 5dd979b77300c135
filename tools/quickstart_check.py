"""Runs the blocks of docs/quickstart.md marked `quickstart`, in order, and checks the output each
`text expect` block under it shows (tests/integration/test_quickstart.py; also by hand against a
running `make run`: `python -m tools.quickstart_check`).

`sh` blocks run in bash (-eu, pipefail), each starting from the variables and functions the ones
before exported or defined, as they would be in the reader's one terminal; `python` blocks run in
this Python reading the same environment. An expect line matches an output line when its text,
with `…` standing for anything, is found in it; the lines must be found in order.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from shared.settings import REPO_ROOT

QUICKSTART = REPO_ROOT / "docs" / "quickstart.md"
FENCE = re.compile(r"^```(\w+)(?: +(\w+))?\n(.*?)^```\n", re.M | re.S)


@dataclass
class Block:
    language: str  # sh or python
    code: str
    expect: list[str]
    line: int


def blocks(markdown: str) -> list[Block]:
    found: list[Block] = []
    for match in FENCE.finditer(markdown):
        language, marker, body = match.groups()
        line = markdown.count("\n", 0, match.start()) + 1
        if marker == "quickstart":
            found.append(Block(language, body, [], line))
        elif (language, marker) == ("text", "expect") and found:
            found[-1].expect = [x for x in body.splitlines() if x.strip()]
    return found


def expect_pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in line.split("…")))


def check(block: Block, output: str) -> None:
    lines, at = output.splitlines(), 0
    for wanted in block.expect:
        pattern = expect_pattern(wanted)
        while at < len(lines) and not pattern.search(lines[at]):
            at += 1
        if at == len(lines):
            raise AssertionError(f"docs/quickstart.md block at line {block.line}: no output line matches "
                                 f"{wanted!r} (in order); the output was:\n{output}")
        at += 1


def run(markdown: str, env: dict[str, str], replace: dict[str, str] | None = None,
        timeout_s: float = 120.0) -> list[tuple[Block, str, float]]:
    """Runs every block; `replace` rewrites text in the code first (the test's ports)."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state.sh"
        state.write_text("")
        for block in blocks(markdown):
            code = block.code
            for old, new in (replace or {}).items():
                code = code.replace(old, new)
            started = time.monotonic()
            if block.language == "sh":
                script = f"set -euo pipefail\nsource {state}\n{code}\n{{ export -p; declare -f; }} > {state}\n"
                argv, stdin = ["bash", "-c", script], None
            elif block.language == "python":
                argv, stdin = ["bash", "-c", f"source {state} && exec {sys.executable} -"], code
            else:
                raise ValueError(f"block at line {block.line}: no runner for {block.language!r}")
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=REPO_ROOT, env=env,
                                  timeout=timeout_s)
            if done.returncode != 0:
                raise AssertionError(f"docs/quickstart.md block at line {block.line} failed ({done.returncode}):\n"
                                     f"{done.stdout}\n{done.stderr}")
            check(block, done.stdout)
            results.append((block, done.stdout, time.monotonic() - started))
    return results


if __name__ == "__main__":
    for block, _out, seconds in run(QUICKSTART.read_text(), dict(os.environ)):
        print(f"line {block.line}: {block.language} ok in {seconds:.1f} s")

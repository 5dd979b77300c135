"""docs/quickstart.md cannot go stale (issue 33): every block marked `quickstart` runs, in order,
against a platform started by `tools.run_platform` (what `make run` runs) on the test's broker,
with its own topic prefix, ports, databases and logs, and its output must show what the page
shows under it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.services import REPO_ROOT, free_port
from tools import quickstart_check

pytestmark = pytest.mark.integration

SERVICES = ("orders", "inventory", "logistics", "aftersales")
DOC_PORTS = {"console": 8100, "orders": 8101, "inventory": 8102, "logistics": 8103, "aftersales": 8104}


def test_every_quickstart_block_runs_against_make_run(kafka_bootstrap: str, tmp_path: Path) -> None:
    ports = {name: free_port() for name in DOC_PORTS}
    prefix = f"qs{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": prefix,
           "PLATFORM_LOG_DIR": str(tmp_path / "log"), "PYTHONUNBUFFERED": "1",
           "PLATFORM_READY_TIMEOUT_S": "240"}  # a loaded CI machine; unloaded it is up in seconds
    env.pop("AUTH_SECRET", None)  # the development secret, as make run has it
    env.pop("AUTH_PUBLIC_KEYS_PATH", None)
    for name, port in ports.items():
        env[f"{name.upper()}_HTTP_PORT"] = str(port)
    for name in SERVICES:
        env[f"{name.upper()}_DATABASE_URL"] = f"sqlite:///{tmp_path / name}.sqlite"
    started = time.monotonic()
    platform = subprocess.Popen([sys.executable, "-m", "tools.run_platform"], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        banner = _wait_for_banner(platform, timeout_s=300)
        assert banner.index("docs/quickstart.md") < banner.index("orders      http://"), banner
        up = time.monotonic() - started
        replace = {f"127.0.0.1:{DOC_PORTS[name]}": f"127.0.0.1:{port}" for name, port in ports.items()}
        results = quickstart_check.run(quickstart_check.QUICKSTART.read_text(), env, replace)
        ran = time.monotonic() - started - up
        assert {b.language for b, _, _ in results} == {"sh", "python"}
        assert len(results) >= 10
        print(f"[quickstart] platform up in {up:.1f} s; {len(results)} blocks in {ran:.1f} s "
              f"(slowest {max(s for _, _, s in results):.1f} s)")
    finally:
        platform.send_signal(signal.SIGTERM)
        try:
            platform.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(platform.pid, signal.SIGKILL)
            platform.wait()
    for name, port in ports.items():  # everything it started is gone
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)


def _wait_for_banner(platform: subprocess.Popen[str], timeout_s: float) -> str:
    assert platform.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = platform.stdout.readline()
        if not line:
            raise AssertionError(f"run_platform exited ({platform.poll()}):\n{''.join(seen)}")
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(seen)
    raise AssertionError(f"run_platform not up after {timeout_s} s:\n{''.join(seen)}")

"""`make run` brings the platform up: the broker, the topics, the four services, each ready, and
the web console calling them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from deploy import localkafka
from tests.support.services import REPO_ROOT, free_port

pytestmark = pytest.mark.e2e


def test_run_platform_starts_everything_and_stops_cleanly_on_ctrl_c(tmp_path) -> None:
    ports = {name: free_port() for name in ("orders", "inventory", "logistics", "aftersales")}
    kafka_port, console_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({f"{n.upper()}_HTTP_PORT": str(p) for n, p in ports.items()})
    env["CONSOLE_HTTP_PORT"] = str(console_port)
    env.update({f"{n.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / n}.sqlite" for n in ports})
    env.update({"KAFKA_PORT": str(kafka_port), "KAFKA_DIR": str(tmp_path / "kafka"), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "tools.run_platform"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert "The platform is up" in "".join(output), "".join(output)
        for name, port in ports.items():
            assert f"http://127.0.0.1:{port}" in "".join(output)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            assert ready.status_code == 200, (name, ready.text)
        # The console is up and reaches each service where make run started it.
        assert f"console     http://127.0.0.1:{console_port}" in "".join(output)
        console = httpx.get(f"http://127.0.0.1:{console_port}/readyz", timeout=10).json()
        assert console["services"] == {name: True for name in ports}, console
        assert httpx.get(f"http://127.0.0.1:{console_port}/signin", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
        output.append(rest)
    assert proc.returncode == 0, "".join(output)
    assert "Kafka stopped." in "".join(output)
    assert not localkafka.broker_answers("127.0.0.1", kafka_port)
    for port in [*ports.values(), console_port]:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)

"""`make run`: the whole platform on this machine.

Starts the local Apache Kafka broker on 127.0.0.1:9092 (or KAFKA_BOOTSTRAP_SERVERS if set),
creates the topics, starts the four services with the sample catalog and the seeds' promotions
loaded and the web console in front of them, prints their URLs, and on Ctrl-C stops them and then
the broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deploy import localkafka
from shared.kafka_security import kafka_python_kwargs
from shared.settings import REPO_ROOT, KafkaSettings
from shared.topics import create_topics
from tools.token import ensure_dev_keys

DEFAULT_PORTS = {"orders": 8101, "inventory": 8102, "logistics": 8103, "aftersales": 8104}
# The same settings the services read (ORDERS_HTTP_PORT, ...), so the URLs printed are the real ones.
SERVICES = {name: int(os.environ.get(f"{name.upper()}_HTTP_PORT", port)) for name, port in DEFAULT_PORTS.items()}
CONSOLE_PORT = int(os.environ.get("CONSOLE_HTTP_PORT", 8100))
# Every process make run starts: its module and the port it answers /readyz (/brokerz) on.
PROCESSES = {**{name: (f"services.{name}", port) for name, port in SERVICES.items()},
             "console": ("console", CONSOLE_PORT)}
SAMPLE_CATALOG = REPO_ROOT / "services" / "inventory" / "sample_catalog.csv"
SAMPLE_PROMOTIONS = REPO_ROOT / "services" / "orders" / "sample_promotions.json"  # the seeds' promotions (R5)
LOG_DIR = Path(os.environ.get("PLATFORM_LOG_DIR", REPO_ROOT / "var" / "log"))
KEYS_DIR = REPO_ROOT / "var" / "keys"  # the development service-account key pair (docs/quickstart.md)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop everything cleanly. Installed explicitly: a shell starting
    this in the background makes it inherit an ignored SIGINT, and a supervisor sends SIGTERM."""

    def interrupt(_signum, _frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    _stop_on_signals()
    cluster = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        port = int(os.environ.get("KAFKA_PORT", localkafka.DEFAULT_PORT))
        cluster = localkafka.start(port=port, brokers=1, base_dir=os.environ.get("KAFKA_DIR"))
        bootstrap = cluster.bootstrap_servers
    print(f"Kafka: {bootstrap}")
    # Secure brokers: the KAFKA_SECURITY_PROTOCOL/KAFKA_SASL_* settings the services read too.
    create_topics(bootstrap, os.environ.get("KAFKA_TOPIC_PREFIX", ""),
                  client_kwargs=kafka_python_kwargs(KafkaSettings(bootstrap_servers=bootstrap)))

    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
    if SAMPLE_CATALOG.exists():
        env.setdefault("INVENTORY_CATALOG_PATH", str(SAMPLE_CATALOG))
    if SAMPLE_PROMOTIONS.exists():
        env.setdefault("ORDERS_PROMOTIONS_FILE", str(SAMPLE_PROMOTIONS))
    if not env.get("AUTH_PUBLIC_KEYS_PATH"):  # services verify key-signed tokens too (tools/token.py)
        env["AUTH_PUBLIC_KEYS_PATH"] = str(ensure_dev_keys(KEYS_DIR))
    # The console calls the services where they really listen, whatever ports were chosen.
    env.update({f"CONSOLE_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in SERVICES.items()})
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, (module, _port) in PROCESSES.items():
            log = open(LOG_DIR / f"{name}.log", "ab")
            processes[name] = subprocess.Popen([sys.executable, "-m", module], cwd=REPO_ROOT,
                                               env=env, stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(processes)
        print("\nThe platform is up. Start here: docs/quickstart.md (a token, an order by curl and by Kafka, "
              "its journey, a cancellation, a return, dead letters)")
        for name, port in SERVICES.items():
            print(f"  {name:<11} http://127.0.0.1:{port}   (API docs: /docs, readiness: /readyz)")
        print(f"  console     http://127.0.0.1:{CONSOLE_PORT}   (dispatch board, returns desk, overview; "
              "development users in docs/console.md)")
        print(f"  logs        {LOG_DIR}")
        print("\nCtrl-C stops everything.")
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [n for n, p in processes.items() if p.poll() is not None]
        print(f"service(s) exited: {dead}; see {LOG_DIR}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        return 0
    finally:
        _stop_all(processes)
        if cluster is not None:
            cluster.stop()
            print("Kafka stopped.")


def _wait_ready(processes: dict[str, subprocess.Popen[bytes]],
                timeout_s: float = float(os.environ.get("PLATFORM_READY_TIMEOUT_S", 90))) -> None:
    deadline = time.monotonic() + timeout_s
    waiting = set(processes)
    while waiting:
        for name in list(waiting):
            if processes[name].poll() is not None:
                raise SystemExit(f"{name} exited at start-up; see {LOG_DIR / (name + '.log')}")
            try:
                # Up means connected to Kafka too (/brokerz); a service is ready (/readyz) before that.
                probe = "/readyz" if name == "console" else "/brokerz"
                if httpx.get(f"http://127.0.0.1:{PROCESSES[name][1]}{probe}", timeout=5).status_code == 200:
                    waiting.discard(name)
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout_s}s: {sorted(waiting)}; see {LOG_DIR}")
        time.sleep(0.3)


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for name, proc in processes.items():
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"{name} stopped.")


if __name__ == "__main__":
    raise SystemExit(main())

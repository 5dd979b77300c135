"""What the console's browser tests share: the console as a real process (its own port, users
with passwords made up per test), Debian's Chromium driven by Playwright (a page that fails the
test on any script error or CSP violation), screenshots, and seeding logistics by playing
inventory on Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import OUTPUT_DIR, REPO_ROOT, TEST_SECRET, ServiceProcess, free_port
from tests.support.world import World

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = OUTPUT_DIR / "screenshots"
PRIORITY_CLASSES = ("presale", "high_value", "standard")


# --- the console as a real process -----------------------------------------------------------------

class ConsoleProcess:
    def __init__(self, world: World, services: dict[str, ServiceProcess], users: dict[str, dict[str, Any]],
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        unused = f"http://127.0.0.1:{free_port()}"  # a service this test did not start: unreachable
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_") and k != "ENV"},
            "CONSOLE_HOST": "127.0.0.1",
            "CONSOLE_HTTP_PORT": str(self.port),
            **{f"CONSOLE_{name.upper()}_URL": services[name].url if name in services else unused
               for name in ("orders", "inventory", "logistics", "aftersales")},
            "CONSOLE_USERS": json.dumps(users),
            "AUTH_SECRET": TEST_SECRET,
            "KAFKA_BOOTSTRAP_SERVERS": world.bootstrap,
            "KAFKA_TOPIC_PREFIX": world.prefix,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log_path = OUTPUT_DIR / "logs" / f"{world.prefix.rstrip('.')}-console.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> "ConsoleProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "console"], cwd=REPO_ROOT, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"console exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"console not up after {timeout_s}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def login_of(role: str) -> str:
    return {"warehouse": "warehouse-1", "support": "support-2", "admin": "admin-3"}[role]


# --- the browser ------------------------------------------------------------------------------------

def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def sign_in(page: Any, console: ConsoleProcess, role: str, password: str) -> None:
    page.goto(console.url + "/signin")
    page.fill("#username", login_of(role))
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("#signed-in-as").inner_text().startswith(login_of(role))


def flash(page: Any) -> str:
    return page.locator(".flash").first.inner_text()


# --- seeding: playing the neighbours on Kafka --------------------------------------------------------

def rank(klass: str, paid_at: datetime, order_id: str) -> str:
    micros = int((paid_at - datetime(1, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)
    return f"{PRIORITY_CLASSES.index(klass)}-{micros:018d}-{order_id}"


def new_order_id() -> str:
    return f"O-{uuid.uuid4().hex[:8].upper()}"


def reserve(world: World, order_id: str, *, paid_at: datetime, klass: str = "standard",
            sku: str = "SKU-TEA-01", quantity: int = 2) -> None:
    world.publish("inventory.reservations", "stock.reserved", {
        "order_id": order_id, "order_type": "presale" if klass == "presale" else "standard",
        "priority_class": klass, "priority_rank": rank(klass, paid_at, order_id),
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": "49.90", "gift": False,
                   "weight_kg": "0.50", "volume_l": "1.20"}],
        "region": "Shanghai", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat(),
    }, key=order_id)


def wait_until(check, what: str, timeout_s: float = 30.0) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def wait_for_shipments(logistics: ServiceProcess, order_ids: list[str]) -> None:
    with logistics.client("warehouse") as http:
        for order_id in order_ids:
            wait_until(lambda: http.get(f"/shipments/SHP-{order_id}").status_code == 200, f"shipment of {order_id}")

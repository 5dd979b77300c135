"""The console's sign-in throttle (issue 33): 5 failures per account per minute, 20 per address,
then 429 with Retry-After before any password hash is computed."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from console import users as console_users
from console.app import build_app
from console.settings import ConsoleSettings
from console.signin_throttle import MAX_KEYS, SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_fifth_failure_of_an_account_closes_it_for_the_rest_of_the_window() -> None:
    clock = Clock()
    throttle = SignInThrottle(limit=5, address_limit=20, window_s=60, clock=clock)
    for i in range(4):
        assert throttle.retry_after("ann", "10.0.0.1") == 0
        throttle.failed("ann", "10.0.0.1")
        clock.now += 1
    assert throttle.retry_after("ann", "10.0.0.1") == 0  # four failures: still open
    throttle.failed("ANN", "10.0.0.2")  # the fifth, another case and address: the same account
    assert throttle.retry_after("ann", "10.0.0.9") == 60 - 4  # until the first failure leaves the window
    assert throttle.retry_after("bob", "10.0.0.1") == 0  # another account from the same address
    clock.now = 1000.0 + 59.9
    assert throttle.retry_after("ann", "x") == 1
    clock.now = 1000.0 + 60.0  # the first failure is out: four left in the window
    assert throttle.retry_after("ann", "x") == 0


def test_an_address_is_closed_after_its_own_limit_and_a_success_clears_the_account_only() -> None:
    clock = Clock()
    throttle = SignInThrottle(limit=5, address_limit=3, window_s=60, clock=clock)
    for name in ("a", "b", "c"):
        throttle.failed(name, "10.0.0.1")
    assert throttle.retry_after("d", "10.0.0.1") == 60
    assert throttle.retry_after("d", "10.0.0.2") == 0
    throttle.succeeded("a")
    assert throttle.retry_after("a", "10.0.0.1") == 60  # the address budget is not reset by a success
    for _ in range(5):
        throttle.failed("e", f"10.1.0.{_}")
    throttle.succeeded("E")
    assert throttle.retry_after("e", "10.2.0.1") == 0


def test_memory_stays_bounded_under_a_spray_of_usernames() -> None:
    throttle = SignInThrottle(clock=Clock())
    for i in range(MAX_KEYS + 500):
        throttle.failed(f"user-{i}", "10.0.0.1")
    assert len(throttle.failures) <= MAX_KEYS


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch):
    calls = {"hashes": 0}

    def counted(password: str, stored: str) -> bool:
        # Counts the hashes instead of spending 600k iterations on each (the test is about when they run).
        calls["hashes"] += 1
        return password.endswith("-dev-password")

    monkeypatch.setattr(console_users, "verify_password", counted)
    app = build_app(ConsoleSettings(signin_failures_per_account=5, signin_failures_per_address=8))
    with TestClient(app, base_url="http://console.test") as client:
        yield client, calls


def test_sign_in_over_http_answers_429_with_retry_after_and_hashes_nothing_more(console) -> None:
    client, calls = console
    started = time.perf_counter()
    for i in range(5):
        r = client.post("/signin", data={"username": "admin", "password": f"guess-{i}"}, follow_redirects=False)
        assert r.status_code == 401
    hashes = calls["hashes"]
    r = client.post("/signin", data={"username": "admin", "password": "admin-dev-password"}, follow_redirects=False)
    assert r.status_code == 429  # even the right password waits: otherwise the 429 is an oracle
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins" in r.text and r.headers["content-type"].startswith("text/html")
    assert calls["hashes"] == hashes, "a throttled attempt must not cost a password hash"
    # Another account is still open from this address (8 per address), then the address closes.
    r = client.post("/signin", data={"username": "support", "password": "support-dev-password"},
                    follow_redirects=False)
    assert r.status_code == 303
    for i in range(3):
        client.post("/signin", data={"username": f"nobody-{i}", "password": "x"})
    r = client.post("/signin", data={"username": "warehouse", "password": "warehouse-dev-password"},
                    follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    print(f"[throttle] 5 failures then 429 Retry-After {r.headers['retry-after']} s; 8 per address; "
          f"{time.perf_counter() - started:.1f} s for {calls['hashes']} hashes")

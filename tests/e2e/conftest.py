"""Fixtures of the console's browser tests (tests/support/console.py has the rest)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.users import hash_password
from tests.support.console import CHROMIUM, CHROMIUM_ARGS, ConsoleProcess
from tests.support.services import ServiceProcess
from tests.support.world import World


@pytest.fixture
def people() -> dict[str, str]:
    """One person per role, with a password made up for this test (only its hash is configured)."""
    return {role: f"{role}-{secrets.token_urlsafe(12)}" for role in ("warehouse", "support", "admin")}


@pytest.fixture
def console_for(world: World, people: dict[str, str]) -> Iterator[Any]:
    started: list[ConsoleProcess] = []

    def start(env: dict[str, str] | None = None, **services: ServiceProcess) -> ConsoleProcess:
        """The console in front of the services given; `env` adds or overrides its settings."""
        users = {f"{role}-{n}": {"roles": [role], "password_hash": hash_password(password, iterations=100_000)}
                 for n, (role, password) in enumerate(people.items(), start=1)}
        console = ConsoleProcess(world, services, users, env)
        started.append(console)
        return console.start()

    yield start
    for console in started:
        console.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    def expected(msg: Any) -> bool:
        """Chromium logs every 4xx answer as a failed resource: the refusal pages themselves
        (403), and a scan step the services refused (a 4xx problem body the page reads out)."""
        if "the server responded with a status of 403" in msg.text:
            return True
        url = (msg.location or {}).get("url", "")
        return "/dispatch/scan/" in url and re.search(r"status of 4\d\d\b", msg.text) is not None

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not expected(msg):
            problems.append(f"console {msg.type}: {msg.text} at {msg.location}")

    tab.on("console", on_console)
    try:
        yield tab
    finally:
        context.close()
    assert not problems, problems  # no script errors, no CSP violations

"""Service processes for integration and e2e tests: signed in, with the test suite's secret."""

from __future__ import annotations

import httpx

from shared.auth import ROLES, AuthSettings, issue_token
from tools.processes import ENV_PREFIX, OUTPUT_DIR, REPO_ROOT, free_port  # noqa: F401 (re-exported)
from tools.processes import ServiceProcess as _ServiceProcess

TEST_SECRET = "test-secret-for-the-test-suite-only-0123456789"


def token_for(*roles: str, subject: str = "tester") -> str:
    return issue_token(AuthSettings(auth_secret=TEST_SECRET), subject, roles)


class ServiceProcess(_ServiceProcess):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env["AUTH_SECRET"] = TEST_SECRET

    def client(self, *roles: str, subject: str = "tester", **kwargs) -> httpx.Client:
        """An HTTP client signed in with `roles` (all roles when none are given)."""
        headers = {"Authorization": f"Bearer {token_for(*(roles or ROLES), subject=subject)}"}
        return httpx.Client(base_url=self.url, headers=headers, **{"timeout": 30, **kwargs})

    def anonymous_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

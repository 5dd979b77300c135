"""Who may call what (issue 9, R3, R28), against the four running services.

Every route each service documents in its OpenAPI document is called without a token, with a
token signed by another secret, with an expired token and with an unsigned (`alg: none`) token:
401 each time. Then with each role alone: refused (403) outside the route's roles, let through
(neither 401 nor 403) inside them. The roles per route come from the services' own tables
(services/*/access.py, services/inventory/app.py); a route missing from a table is admin-only.
Health, readiness and metrics answer without a token. A few rules are also spelled out by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from services.aftersales.access import ACCESS as AFTERSALES_ACCESS
from services.inventory.app import ACCESS as INVENTORY_ACCESS
from services.logistics.access import ACCESS as LOGISTICS_ACCESS
from services.orders.access import ACCESS as ORDERS_ACCESS
from shared.auth import PUBLIC_PATHS, ROLES, AuthSettings, issue_token
from tests.support.services import TEST_SECRET, ServiceProcess, token_for
from tests.support.world import World

pytestmark = pytest.mark.integration

ACCESS = {"orders": ORDERS_ACCESS, "inventory": INVENTORY_ACCESS, "logistics": LOGISTICS_ACCESS,
          "aftersales": AFTERSALES_ACCESS}
DEFAULT = frozenset({"admin"})


@pytest.fixture(scope="module")
def services(module_world: World) -> dict[str, ServiceProcess]:
    return {name: module_world.start(name, settings={"CLOCK": "settable"}) for name in ACCESS}


def routes(service: ServiceProcess) -> list[tuple[str, str]]:
    """(method, path template) of every documented route but the public ones."""
    with service.anonymous_client() as client:
        doc = client.get("/openapi.json").json()
    found = [(method.upper(), path) for path, item in doc["paths"].items() for method in item
             if method in ("get", "post", "put", "patch", "delete") and path not in PUBLIC_PATHS]
    assert found, "no routes documented"
    return found


def call(client: httpx.Client, method: str, path: str, token: str | None) -> httpx.Response:
    url = path.replace("{", "").replace("}", "")  # e.g. /orders/{order_id} -> /orders/order_id
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, url, headers=headers, json=body)


def bad_tokens() -> dict[str, str]:
    claims = {"sub": "mallory", "roles": list(ROLES)}
    past = datetime.now(UTC) - timedelta(hours=10)
    return {
        "another secret": issue_token(AuthSettings(auth_secret="not-the-deployment-secret-0123456789abcdef"),
                                      "mallory", ROLES),
        "expired": issue_token(AuthSettings(auth_secret=TEST_SECRET, auth_token_ttl_s=60), "tester", ROLES, now=past),
        "unsigned (alg none)": jwt.encode({**claims, "exp": datetime.now(UTC) + timedelta(hours=1)}, None,
                                          algorithm="none"),
        "no expiry": jwt.encode(claims, TEST_SECRET, algorithm="HS256"),
        "garbage": "not.a.token",
    }


@pytest.fixture
def anonymous(services: dict[str, ServiceProcess]) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: s.anonymous_client() for name, s in services.items()}
    yield clients
    for c in clients.values():
        c.close()


@pytest.mark.parametrize("name", list(ACCESS))
def test_every_route_refuses_a_missing_forged_or_expired_token(services, anonymous, name: str) -> None:
    client, checked = anonymous[name], 0
    for method, path in routes(services[name]):
        r = call(client, method, path, None)
        assert r.status_code == 401, f"{name} {method} {path} without a token: {r.status_code} {r.text[:200]}"
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
        # A scheme other than Bearer is no token either.
        r = client.request(method, path.replace("{", "").replace("}", ""),
                           headers={"Authorization": f"Basic {TEST_SECRET}"})
        assert r.status_code == 401, f"{name} {method} {path} with Basic auth: {r.status_code}"
        for what, token in bad_tokens().items():
            r = call(client, method, path, token)
            assert r.status_code == 401, f"{name} {method} {path} with a token ({what}): {r.status_code} {r.text[:200]}"
        checked += 1
    print(f"[access] {name}: {checked} routes x 7 kinds of missing or bad token -> 401")


@pytest.mark.parametrize("name", list(ACCESS))
def test_each_role_is_refused_outside_its_rights_and_let_through_inside(services, anonymous, name: str) -> None:
    client, refused, let_through = anonymous[name], 0, 0
    table = ACCESS[name]
    documented = routes(services[name])
    # The table names no route the service does not have (a typo there would leave a route admin-only).
    assert set(table) <= set(documented), set(table) - set(documented)
    for method, path in documented:
        allowed = table.get((method, path), DEFAULT)
        for role in ROLES:
            r = call(client, method, path, token_for(role, subject=f"{role}-tester"))
            if role in allowed:
                assert r.status_code not in (401, 403), f"{name}: {role} refused {method} {path}: {r.text[:200]}"
                let_through += 1
            else:
                assert r.status_code == 403, f"{name}: {role} got {r.status_code} on {method} {path}, wanted 403"
                assert role in r.json()["detail"]
                refused += 1
        # A valid token with no role at all, or only unknown roles, is refused too.
        for roles in ([], ["superuser"]):
            token = jwt.encode({"sub": "x", "roles": roles, "exp": datetime.now(UTC) + timedelta(hours=1)},
                               TEST_SECRET, algorithm="HS256")
            r = call(client, method, path, token)
            assert r.status_code == 403, f"{name}: roles {roles} got {r.status_code} on {method} {path}"
    print(f"[access] {name}: {len(documented)} routes x {len(ROLES)} roles: {refused} refused (403), "
          f"{let_through} let through")


# The rules of issue 9 by name: (service, method, path, role refused, role let through).
RULES = [
    ("aftersales", "POST", "/cases/C-1/refund", "warehouse", "support"),  # warehouse cannot refund
    ("aftersales", "POST", "/returns", "warehouse", "support"),  # ...nor open returns
    ("aftersales", "POST", "/returns", "platform", "support"),
    ("logistics", "POST", "/shipments/SHP-1/ship", "support", "warehouse"),  # support cannot ship
    ("logistics", "POST", "/waves", "support", "warehouse"),  # ...nor take a wave
    ("logistics", "POST", "/waves", "admin", "warehouse"),
    ("inventory", "PUT", "/skus/SKU-1", "platform", "admin"),  # platform cannot change stock
    ("inventory", "POST", "/counts", "platform", "warehouse"),
    ("inventory", "POST", "/deliveries", "support", "warehouse"),
    ("orders", "POST", "/orders", "warehouse", "platform"),  # warehouse cannot place orders
    ("orders", "POST", "/orders", "support", "platform"),
    ("orders", "POST", "/orders/O-1/cancel", "warehouse", "support"),
    ("orders", "PUT", "/clock", "platform", "admin"),  # operations are admin-only
    ("inventory", "PUT", "/clock", "warehouse", "admin"),
]


@pytest.mark.parametrize(("name", "method", "path", "refused", "allowed"), RULES,
                         ids=[f"{r[3]}-cannot-{r[1]}-{r[0]}{r[2]}" for r in RULES])
def test_named_rules(services, anonymous, name: str, method: str, path: str, refused: str, allowed: str) -> None:
    client = anonymous[name]
    r = call(client, method, path, token_for(refused))
    assert r.status_code == 403, (r.status_code, r.text[:200])
    r = call(client, method, path, token_for(allowed))
    assert r.status_code not in (401, 403), (r.status_code, r.text[:200])


@pytest.mark.parametrize("name", list(ACCESS))
def test_health_readiness_metrics_and_documents_need_no_token(services, anonymous, name: str) -> None:
    client = anonymous[name]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)  # 503 only while the database is away
    assert client.get("/brokerz").status_code in (200, 503)  # 503 while the broker is away
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "# TYPE" in metrics.text
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/asyncapi.json").status_code == 200
    # ...and a bad token does not break them either.
    assert client.get("/healthz", headers={"Authorization": "Bearer garbage"}).status_code == 200

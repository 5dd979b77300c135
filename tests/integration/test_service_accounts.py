"""Service accounts against a running service (issue 33), through the real broker.

The orders service here holds no shared secret, only the JWKS: a checkout's key-signed platform
token places an order that is accepted over Kafka; the same token on an admin route is a 403
problem; every token a holder of the public key could forge is a 401 problem; so are a 1 MB
token and an Authorization header of bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from shared.auth import AuthSettings, issue_token
from tests.integration.test_orders_intake import new_id, order_data
from tests.support.services import ServiceProcess
from tests.support.tokens import claims, hs256
from tests.support.world import World
from tools import token as token_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    token_cli.main(["keygen", "--dir", str(folder)])
    token_cli.main(["keygen", "--dir", str(folder / "rogue"), "--kid", "service-accounts"])
    return folder


@pytest.fixture(scope="module")
def orders(module_world: World, keys: Path) -> ServiceProcess:
    service = ServiceProcess("orders", bootstrap=module_world.bootstrap, topic_prefix=module_world.prefix,
                             db_dir=module_world.base_dir / "db-service-accounts")
    service.env["AUTH_SECRET"] = ""  # HS256 off: this service can verify tokens and mint none
    service.env["AUTH_PUBLIC_KEYS_PATH"] = str(keys / "jwks.json")
    module_world.services.append(service)
    (module_world.base_dir / "db-service-accounts").mkdir(exist_ok=True)
    return service.start()


def key_token(keys: Path, roles: list[str], **settings) -> str:
    return issue_token(AuthSettings(auth_signing_key_path=str(keys / "service-accounts.pem"), **settings),
                       "checkout", roles)


def test_a_platform_token_places_an_order_and_is_refused_on_admin_routes(module_world: World, orders, keys) -> None:
    events = module_world.reader("orders.events")
    order_id = new_id()
    with httpx.Client(base_url=orders.url, timeout=30,
                      headers={"Authorization": f"Bearer {key_token(keys, ['platform'])}"}) as http:
        r = http.post("/orders", json=order_data(order_id))
        assert r.status_code == 202, r.text
        events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id)
        assert http.get(f"/orders/{order_id}").json()["status"] == "accepted"
        for method, path in (("PUT", "/clock"), ("GET", "/outbox"), ("PUT", "/promotions")):
            r = http.request(method, path, json={})
            assert r.status_code == 403, (method, path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "platform may not" in r.json()["detail"] and "admin" in r.json()["detail"]
    print(f"[service accounts] order {order_id} accepted through the broker with a key-signed token; "
          "PUT /clock, GET /outbox, PUT /promotions: 403")


def test_tokens_forged_with_what_a_service_holds_are_refused(orders, keys: Path) -> None:
    jwks = json.loads((keys / "jwks.json").read_text())
    public_x = jwks["keys"][0]["x"].encode()
    forged = {
        "admin claimed with the service key": key_token(keys, ["platform", "admin"]),
        "a fresh key under the same kid": issue_token(
            AuthSettings(auth_signing_key_path=str(keys / "rogue" / "service-accounts.pem")), "m", ["platform"]),
        "the public key as HS256 secret": hs256(claims(roles=["admin"]), public_x, kid="service-accounts"),
        "alg none": _unsigned(claims()),
        "wrong iss": key_token(keys, ["platform"], auth_issuer="elsewhere"),
        "wrong aud": key_token(keys, ["platform"], auth_audience="elsewhere"),
        "expired": _expired(keys),
        "a kid that is not there": key_token(keys, ["platform"], auth_signing_key_id="kid-404"),
        "the development HS256 secret": issue_token(AuthSettings(), "m", ["admin"]),
        "9 KB (over the service's cap)": "A" * 9_000,
    }
    with httpx.Client(base_url=orders.url, timeout=30) as http:
        for what, token in forged.items():
            r = http.get("/orders", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (what, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/problem+json"), what
            assert r.headers["www-authenticate"].lower().startswith("bearer"), what
        # 1 MB never reaches the app: the HTTP server refuses a header that size (400).
        r = http.get("/orders", headers={"Authorization": "Bearer " + "A" * 1_000_000})
        assert r.status_code in (400, 401, 431), r.status_code
        assert orders.proc is not None and orders.proc.poll() is None
    print(f"[service accounts] {len(forged)} forged tokens refused (401); a 1 MB one answered {r.status_code}")


def test_an_authorization_header_of_raw_non_utf8_bytes_is_a_401(orders) -> None:
    """httpx refuses such a header, so it goes over a plain socket."""
    request = (b"GET /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \xff\xfe\xc3\x28.\x80.\xf0\r\n"
               b"Connection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", orders.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"401", answer[:300]
    assert b"application/problem+json" in rest and b"not a well-formed JWT" in rest


def _unsigned(payload: dict) -> str:
    import jwt

    return jwt.encode(payload, None, algorithm="none", headers={"kid": "service-accounts"})


def _expired(keys: Path) -> str:
    from datetime import UTC, datetime, timedelta

    return issue_token(AuthSettings(auth_signing_key_path=str(keys / "service-accounts.pem"), auth_token_ttl_s=60),
                       "checkout", ["platform"], now=datetime.now(UTC) - timedelta(hours=1))

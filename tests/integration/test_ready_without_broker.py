"""R25, the fast half (no broker at all, so `make test` covers it): a service whose broker
never answers is ready on the probe the Kubernetes manifests and docker-compose name, its body
says the broker is down and since when, `/brokerz` answers 503, and orders takes `POST /orders`
into its outbox. The slow half stops and restarts a real broker: tests/faults/test_degraded_ready.py."""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import yaml

from tests.faults.support import Sku, make_orders, scalar, seeded_rng
from tests.support.services import ServiceProcess, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SKUS = [Sku("R-TEA", "traffic_driver", 100, Decimal("49.90")), Sku("R-CUP", "profit", 100, Decimal("19.90"))]


def readiness_probe_path(app: str) -> str:
    """The path the Kubernetes Deployment's readinessProbe asks (deploy/k8s/base/<app>.yaml),
    checked to be the one docker-compose's health check asks too."""
    docs = list(yaml.safe_load_all((REPO / "deploy" / "k8s" / "base" / f"{app}.yaml").read_text()))
    [deployment] = [d for d in docs if d and d.get("kind") == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    path = container["readinessProbe"]["httpGet"]["path"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][app]
    assert re.search(rf":\d+{re.escape(path)}'", " ".join(compose["healthcheck"]["test"])), compose["healthcheck"]
    return path


def probe(service: ServiceProcess, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = httpx.get(service.url + path, timeout=10)
    return answer, time.monotonic() - started


def test_services_are_ready_without_a_broker_and_orders_take_posts_into_the_outbox(tmp_path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = {name: ServiceProcess(name, bootstrap=nowhere, topic_prefix="nobroker.", db_dir=tmp_path)
               for name in ("orders", "logistics")}
    try:
        with ThreadPoolExecutor(len(started)) as pool:  # side by side: most of the time is start-up
            list(pool.map(lambda s: s.start(timeout_s=90, broker=False), started.values()))  # /readyz 200
        for name, service in started.items():
            path = readiness_probe_path(name)
            answer, took = probe(service, path)
            body = answer.json()
            assert answer.status_code == 200, (name, body)
            assert took < 1.0, f"{name} {path} took {took:.2f}s: it must not wait on the broker"
            assert body["ready"] and body["degraded"] and body["database"], body
            assert body["broker"] is False and body["down"] == ["broker"], body
            assert body["broker_down_since"] is not None and body["outbox_backlog"] == 0, body
            broker, _ = probe(service, "/brokerz")
            assert broker.status_code == 503 and broker.json()["down"] == ["broker"], broker.text
            assert probe(service, "/healthz")[0].status_code == 200
            metrics = httpx.get(service.url + "/metrics", timeout=10).text
            assert re.search(r"^peak_broker_connected 0\.0$", metrics, re.MULTILINE), metrics[:500]
            assert float(re.search(r"^peak_broker_down_seconds (\S+)$", metrics, re.MULTILINE)[1]) > 0

        orders = started["orders"]
        posted = make_orders(seeded_rng("nobroker"), 5, "NB", SKUS)
        with orders.client("platform") as http:
            answers = Counter(http.post("/orders", json=o).status_code for o in posted)
        assert answers == {202: len(posted)}, answers
        held = scalar(orders, "select count(*) from outbox_message where topic = :t and state != 'published'",
                      t="nobroker.platform.orders")
        assert held == len(posted), held
        body = probe(orders, readiness_probe_path("orders"))[0].json()
        assert body["ready"] and body["outbox_backlog"] == len(posted), body
    finally:
        for service in started.values():
            service.stop()

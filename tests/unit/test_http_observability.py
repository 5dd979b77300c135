"""The HTTP side operators see (shared/http_observability.py, shared/metrics.py): an access log
line per request in the JSON format with its request id (and trace id while tracing is on), the
request histogram by route template and status, and the process collectors on /metrics."""

from __future__ import annotations

import json
import logging
import re

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from shared.http_observability import HttpObservability
from shared.logs import JsonFormatter
from shared.metrics import ServiceMetrics


def _app(metrics: ServiceMetrics) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def read(order_id: str) -> dict[str, str]:
        if order_id == "missing":
            raise HTTPException(404)
        return {"order_id": order_id}

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(HttpObservability, metrics=metrics)
    return app


def test_requests_are_counted_by_route_template_and_status() -> None:
    metrics = ServiceMetrics("orders")
    with TestClient(_app(metrics)) as http:
        for order_id in ("O-1", "O-2", "missing"):
            http.get(f"/orders/{order_id}")
        http.get("/no/such/path")
    text = metrics.render().decode()
    assert 'peak_http_request_duration_seconds_count{method="GET",route="/orders/{order_id}",status="200"} 2.0' in text
    assert 'peak_http_request_duration_seconds_count{method="GET",route="/orders/{order_id}",status="404"} 1.0' in text
    assert 'peak_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "O-1" not in text  # a series per route, not per id


def test_a_fresh_registry_has_the_process_and_runtime_collectors() -> None:
    text = ServiceMetrics("orders").render().decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "python_info", "python_gc_collections_total"):
        assert re.search(rf"^{name}(\{{.*\}})? ", text, re.M), name
    # Everything the project defines carries its prefix.
    ours = {n for n in re.findall(r"^# TYPE (\S+) ", text, re.M) if not n.startswith(("process_", "python_"))}
    assert ours and all(n.startswith("peak_") for n in ours), ours


def test_an_access_line_is_json_with_the_request_id(caplog) -> None:
    metrics = ServiceMetrics("orders")
    with caplog.at_level(logging.INFO, logger="access"), TestClient(_app(metrics)) as http:
        answer = http.get("/orders/O-7", headers={"X-Request-Id": "req-42"})
        fresh = http.get("/orders/O-8", headers={"X-Request-Id": "bad id with spaces"})
        http.get("/healthz")  # probes: DEBUG only
    assert answer.headers["x-request-id"] == "req-42"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    lines = [json.loads(JsonFormatter("orders").format(r)) for r in caplog.records if r.name == "access"]
    assert [line["http"]["path"] for line in lines] == ["/orders/O-7", "/orders/O-8"]
    first = lines[0]
    assert first["request_id"] == "req-42" and first["service"] == "orders" and first["level"] == "info"
    assert first["http"]["route"] == "/orders/{order_id}" and first["http"]["status"] == 200
    assert first["http"]["duration_ms"] >= 0

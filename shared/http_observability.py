"""What operators see of the HTTP side: an access log line per request in the services' JSON log
format (method, path, route template, status, duration, request id, trace id) and the request
histogram `peak_http_request_duration_seconds{method,route,status}` on /metrics.

The trace id comes with every log line while a span is current (shared/logs.py); FastAPI's
server span wraps this middleware, so an access line carries its request's. A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which costs a task per request).
The route label is the route's template (`/orders/{order_id}`), never the path: one series per
route, however many ids are asked for; a path no route matches is `unmatched`.

Request id: the caller's `X-Request-Id` when it is a short token (letters, digits, `._-`, at most
64), else a new one; it is echoed on the answer and put on every log line of the request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from shared import tracing
from shared.logs import current_request_id
from shared.metrics import ServiceMetrics

access_log = logging.getLogger("access")

QUIET_PATHS = frozenset({"/healthz", "/readyz", "/brokerz", "/metrics"})
"""Probes and scrapes: every few seconds from every prober, logged at DEBUG only (still counted)."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class HttpObservability:
    def __init__(self, app: Any, metrics: ServiceMetrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        token = current_request_id.set(request_id)
        status = 500  # what the client gets when the app fails before it answers

        async def answer(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            method = method if method in METHODS else "OTHER"
            self.metrics.http_seconds.labels(method, route, str(status)).observe(elapsed)
            if self.log_requests:
                level = logging.DEBUG if scope.get("path") in QUIET_PATHS else logging.INFO
                if access_log.isEnabledFor(level):
                    access_log.log(level, "%s %s %d %.1f ms", method, route, status, elapsed * 1000, extra={"http": {
                        "method": method, "path": scope.get("path"), "route": route, "status": status,
                        "duration_ms": round(elapsed * 1000, 2), "client": (scope.get("client") or (None,))[0]},
                        "request_id": request_id, "trace_id": tracing.current_trace_id()})
            current_request_id.reset(token)


def _request_id(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex

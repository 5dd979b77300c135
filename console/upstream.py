"""Calls to the four services, on behalf of the signed-in person (their token on every call).

Whatever goes wrong becomes an `UpstreamError` whose message a person can read: the service's
own `detail` when it gave one, otherwise what happened in plain words. No stack traces reach a page.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from console.metrics import ConsoleMetrics

log = logging.getLogger(__name__)

SERVICE_NAMES = {"orders": "orders", "inventory": "inventory", "logistics": "logistics (dispatch)",
                 "aftersales": "after-sales"}


class UpstreamError(Exception):
    def __init__(self, service: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.service = service
        self.status = status
        self.message = message


def seg(value: str) -> str:
    """One path segment, whatever the person typed."""
    return quote(value, safe="")


def _field_errors(detail: list[Any]) -> str:
    """FastAPI's validation list, as sentences: 'tracking number: String should match ...'."""
    parts = []
    for item in detail[:5]:
        if not isinstance(item, dict):
            parts.append(str(item))
            continue
        where = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
        field = " ".join(where).replace("_", " ")
        parts.append(f"{field}: {item.get('msg', 'invalid')}" if field else str(item.get("msg", "invalid")))
    return "; ".join(parts)


def plain_words(service: str, response: httpx.Response) -> str:
    name = SERVICE_NAMES.get(service, service)
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        detail = _field_errors(detail)
    status = response.status_code
    if status == 401:
        return f"The {name} service did not accept your sign-in ({detail or 'no reason given'}). Sign in again."
    if status == 403:
        return f"Your role may not do this in the {name} service: {detail or 'access refused'}."
    if status >= 500:
        return (f"The {name} service failed while handling this (HTTP {status}). Try again; "
                "if it keeps happening, tell the on-call engineer.")
    if detail:
        text = str(detail)
        return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
    return f"The {name} service refused this (HTTP {status})."


class Upstream:
    def __init__(self, urls: dict[str, str], timeout_s: float, metrics: ConsoleMetrics) -> None:
        self.urls = urls
        self.metrics = metrics
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, service: str, method: str, path: str, token: str | None, *,
                   params: dict[str, Any] | None = None, json: Any = None,
                   extra_headers: dict[str, str] | None = None, raw: bool = False) -> Any:
        """The service's JSON answer (`raw`: the response itself), refusals as UpstreamError in plain words."""
        name = SERVICE_NAMES.get(service, service)
        headers = ({"Authorization": f"Bearer {token}"} if token else {}) | (extra_headers or {})
        try:
            response = await self.client.request(method, self.urls[service] + path, params=params, json=json,
                                                  headers=headers)
        except httpx.TimeoutException as exc:
            self.metrics.upstream_errors.labels(service=service, kind="timeout").inc()
            raise UpstreamError(service, f"The {name} service did not answer in time. Try again in a moment.") from exc
        except httpx.HTTPError as exc:
            self.metrics.upstream_errors.labels(service=service, kind="unreachable").inc()
            log.warning("%s unreachable at %s: %s", service, self.urls[service], exc)
            raise UpstreamError(service, f"The {name} service cannot be reached right now. Try again in a "
                                         "minute; if it persists, tell the on-call engineer.") from exc
        if response.status_code >= 400:
            self.metrics.upstream_errors.labels(service=service, kind=str(response.status_code)).inc()
            raise UpstreamError(service, plain_words(service, response), response.status_code)
        if raw:
            return response
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamError(service, f"The {name} service sent an answer the console cannot read.") from exc

    async def get(self, service: str, path: str, token: str | None, **params: Any) -> Any:
        return await self.call(service, "GET", path, token,
                               params={k: v for k, v in params.items() if v is not None} or None)

    async def post(self, service: str, path: str, token: str | None, body: Any = None) -> Any:
        return await self.call(service, "POST", path, token, json=body if body is not None else {})

    async def reachable(self, service: str) -> bool:
        try:
            return (await self.client.get(self.urls[service] + "/healthz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def post_once(self, service: str, path: str, token: str | None, body: Any, key: str) -> Any:
        """A creating POST with an `Idempotency-Key` (the form's own): a form sent twice, or
        retried after a timeout, creates one thing."""
        return await self.call(service, "POST", path, token, json=body, extra_headers={"Idempotency-Key": key})

    async def get_text(self, service: str, path: str, token: str | None) -> tuple[str, str | None]:
        """A text answer (a CSV export) and its Content-Disposition, refusals in plain words."""
        response = await self.call(service, "GET", path, token, raw=True)
        return response.text, response.headers.get("content-disposition")

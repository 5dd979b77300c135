"""The HTTP side every service shares: the app factory (auth, problem bodies, size limit, the
error answers in OpenAPI), the operations routes, and the dependencies routes are built from.

Routers are built at module level; a route gets what it needs as FastAPI dependencies:

    @router.post("/orders/{order_id}/cancel", response_model=CancelAnswer)
    def cancel(order_id: str, work: Work) -> CancelAnswer:
        with work() as uow:                       # one transaction, committed on leaving
            return usecases.cancel_order(uow, ...)

`Work` opens a unit of work (shared/unit_of_work.py) on the app's runtime whose actor is the
signed-in caller; `RuntimeDep` is the runtime itself (its engine for reads, its settings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from shared.auth import AccessTable, AuthSettings, authorizer
from shared.clock import SettableClock
from shared.http_observability import HttpObservability
from shared.http_problems import problem_responses
from shared.http_problems import install as install_problems
from shared.metrics import CONTENT_TYPE
from shared.unit_of_work import Actor, UnitOfWork

if TYPE_CHECKING:
    from shared.service import ServiceRuntime


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated["ServiceRuntime", Depends(_runtime)]
"""The service's runtime (engine, clock, settings, outbox), for a route."""


def http_actor(request: Request) -> Actor:
    """The signed-in caller as the actor of what the request changes (`anonymous` without one)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return Actor("http", "anonymous")
    return Actor("http", principal.subject, roles=tuple(sorted(principal.roles)))


def _work(request: Request) -> Callable[[], AbstractContextManager[UnitOfWork]]:
    runtime = _runtime(request)
    actor = http_actor(request)
    return lambda: runtime.unit_of_work(actor)


Work = Annotated[Callable[[], AbstractContextManager[UnitOfWork]], Depends(_work)]
"""Opens the request's unit of work: `with work() as uow: ...` commits on leaving the block
(and the events it published go out right after); an exception rolls everything back."""


class Health(BaseModel):
    status: str = Field(description="`ok`, or `stalled` with the partitions named")
    service: str
    stalled: list[dict[str, Any]] | None = None
    stall_after_s: float | None = None


class Readiness(BaseModel):
    ready: bool = Field(description="The instance can take work: its database answers (what the "
                                    "readiness probe follows); a broker outage does not make it unready")
    database: bool
    broker: bool = Field(description="The Kafka broker answered when last asked")
    relay: bool = Field(description="The outbox relay has connected to the broker at least once")
    degraded: bool = Field(False, description="Ready, but the broker is away: events wait in the outbox")
    down: list[str] = Field(default_factory=list, description="The dependencies not answering")
    broker_down_since: datetime | None = None
    broker_checked_at: datetime | None = None
    outbox_backlog: int | None = Field(None, description="Events waiting in the outbox to be published")
    while_broker_down: str = Field("", description="What this service still does while the broker is away")


class RefusedRow(BaseModel):
    event_id: str
    topic: str
    bytes: int
    last_error: str | None
    created_at: str


class OutboxState(BaseModel):
    backlog: int = Field(description="Events waiting to be published")
    refused: int = Field(description="Events the broker refused for good, kept")
    refused_rows: list[RefusedRow]


class ClockState(BaseModel):
    now: datetime
    kind: str


class ClockChange(BaseModel):
    now: datetime | None = None
    advance_seconds: float | None = None


def ops_router(runtime: ServiceRuntime) -> APIRouter:
    """Health, readiness, metrics, the AsyncAPI document, and the clock."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health,
                responses={503: {"description": "A consumer is stalled (names the partitions)", "model": Health}})
    async def healthz() -> JSONResponse:
        # Liveness: 503 once a consumed partition has had lag and no progress for the stall limit.
        stalled = runtime.stall_watch.stalled
        if stalled:
            return JSONResponse({"status": "stalled", "service": runtime.name, "stalled": stalled,
                                 "stall_after_s": runtime.stall_watch.stall_after_s}, status_code=503)
        return JSONResponse({"status": "ok", "service": runtime.name})

    @router.get("/readyz", response_model=Readiness,
                responses={503: {"description": "Not ready: the database does not answer", "model": Readiness}})
    async def readyz() -> JSONResponse:
        # Readiness (the probe Kubernetes and docker-compose use): the database alone. While the
        # broker is away the instance stays ready (degraded) and the body says so.
        state = await runtime.readiness()
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @router.get("/brokerz", response_model=Readiness,
                responses={503: {"description": "The Kafka broker does not answer (body as /readyz)",
                                 "model": Readiness}})
    async def brokerz() -> JSONResponse:
        # Broker connected, asked now: for operators, alerts and start-up scripts, not a probe.
        state = await runtime.readiness(ask_broker=True)
        return JSONResponse(state, status_code=200 if state["broker"] else 503)

    @router.get("/metrics", response_class=PlainTextResponse)  # documented as text, as served
    def metrics() -> Response:  # sync: business gauges read the database in a worker thread
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/outbox", response_model=OutboxState)
    def outbox() -> dict[str, Any]:  # sync: reads the database in a worker thread
        """Events waiting to be published, and those the broker refused for good (admin)."""
        backlog, refused = runtime.relay.backlog_and_refused()
        return {"backlog": backlog, "refused": refused, "refused_rows": runtime.relay.refused_rows()}

    @router.get("/asyncapi.json", response_model=dict[str, Any])
    async def asyncapi() -> dict[str, Any]:
        return runtime.asyncapi()

    @router.get("/clock", response_model=ClockState)
    async def get_clock() -> dict[str, Any]:
        return {"now": runtime.clock.now().isoformat(), "kind": runtime.settings.clock}

    @router.put("/clock", response_model=ClockState)
    async def set_clock(change: ClockChange) -> dict[str, Any]:
        clock = runtime.clock
        if not isinstance(clock, SettableClock):
            raise HTTPException(409, "this service runs on the system clock; start it with clock=settable")
        if change.now is not None:
            if change.now.tzinfo is None:
                raise HTTPException(422, "`now` must carry a timezone, e.g. 2026-11-11T00:00:00Z")
        try:
            if change.now is not None:
                clock.set(change.now)
            if change.advance_seconds:
                clock.advance(timedelta(seconds=change.advance_seconds))
        except OverflowError as exc:  # beyond what a datetime can hold (found by fuzzing)
            raise HTTPException(422, "this moves the clock out of range") from exc
        return {"now": clock.now().isoformat(), "kind": runtime.settings.clock}

    return router


def service_policy(request: Request) -> Any:
    """A dependency: the service's policy given to `create_http_app`; each service names its type,
    e.g. `Policy = Annotated[OrderPolicy, Depends(service_policy)]`."""
    return request.app.state.policy


def create_http_app(runtime: ServiceRuntime, routers: Iterable[APIRouter], *, title: str,
                    description: str = "", access: AccessTable | None = None, policy: Any = None) -> FastAPI:
    """`access` maps (method, path) to the roles allowed; see shared/auth.py. `policy` is the
    service's settings as its routes read them (`service_policy`)."""
    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    dependencies = []
    if access is not None:
        dependencies.append(Depends(authorizer(AuthSettings().checked(), access)))
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  dependencies=dependencies,
                  # FastAPI's own server span per request, only while shared/tracing.py installed a
                  # provider; the per-dependency spans and OTel metrics/logs are not wanted (the
                  # metrics are Prometheus', the logs JSON lines: shared/http_observability.py).
                  telemetry={"operation_spans": False, "metrics": False, "logs": False})
    app.state.runtime = runtime
    app.state.policy = policy
    app.include_router(ops_router(runtime))
    for router in routers:
        app.include_router(router)
    _document_errors(app, signed_in=access is not None)

    install_problems(app)
    # Outermost of ours: the access log and the request histogram see every answer, a refused
    # body or an auth failure too (shared/http_observability.py).
    app.add_middleware(HttpObservability, metrics=runtime.metrics, log_requests=runtime.settings.access_log)

    return app


def _document_errors(app: FastAPI, *, signed_in: bool) -> None:
    """The error answers every route may give, in its OpenAPI document (checked by the HTTP
    fuzzing tests), each an RFC 9457 problem body naming the `/problems/...` types it may carry:
    400 a malformed body, header or cursor, 401/403 sign-in and role, 404 unknown id, 409 a
    state conflict or an `Idempotency-Key` still in flight, 413 a body over the size limit, 422
    invalid input or an `Idempotency-Key` reused for another request (docs/errors.md)."""
    from shared.auth import PUBLIC_PATHS

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for path, item in schema.get("paths", {}).items():
                for method, operation in item.items():
                    responses = operation.setdefault("responses", {})
                    codes = {422}
                    if "requestBody" in operation or operation.get("parameters"):
                        codes |= {400}  # a malformed body, header (Idempotency-Key) or cursor
                    if "requestBody" in operation:
                        codes |= {413}
                    if signed_in and path not in PUBLIC_PATHS:
                        codes |= {401, 403}
                    if "{" in path or method in ("post", "put"):
                        codes |= {404}
                    if method in ("post", "put"):
                        codes |= {409}
                    for code, answer in problem_responses(*sorted(codes)).items():
                        responses[str(code)] = answer
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Every HTTP error a service gives is an RFC 9457 problem body, and no body is read past the limit.

`install(app)` adds both to a FastAPI app: a size guard in front of everything (413 before the
body is read, whether it declares its length or streams it), and exception handlers that turn
FastAPI's and the services' errors into `application/problem+json` with a `detail` string a
person can act on (validation errors also list each problem under `errors`).

Each kind of error has a stable `type`, `PROBLEM_BASE` + a slug from `PROBLEM_KINDS` (e.g.
`/problems/invalid-cursor`), so a client branches on `type`, never on the wording of `detail`.
The type is a relative URI reference (RFC 9457 §3.1.1 allows one): resolved against the
answering service's URL it names a problem kind; it is an identifier, not a page the service
serves. docs/errors.md lists every kind (a unit test keeps it in step with `PROBLEM_KINDS`).
Routes and use cases raise `Problem(status, kind, detail)`; a plain `HTTPException` gets its
status's default kind. A status with no kind of its own keeps `about:blank` (RFC 9457 §4.2.1:
nothing more to say than the status).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.contract_types import describe_validation_error
from shared.limits import MAX_HTTP_BODY_BYTES

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
BLANK = "about:blank"

PROBLEM_KINDS: dict[str, str] = {
    "bad-request": "The request cannot be read as sent (for a body that is not JSON, see malformed-json).",
    "malformed-json": "The body is not well-formed JSON; `errors` says where.",
    "invalid-request": "A parameter, header or the body breaks the documented schema or a rule on its "
                       "values; `detail` says which, `errors` lists each schema problem. 400 for a "
                       "malformed header such as Idempotency-Key.",
    "invalid-cursor": "The `cursor` parameter is not one this API handed out (or one from an older "
                      "version): start again from the first page, without a cursor.",
    "unauthorized": "Sign-in required, or the bearer token is invalid or expired (see WWW-Authenticate).",
    "forbidden": "The token's roles may not call this operation.",
    "not-found": "No such resource, or the request names an id that does not exist.",
    "method-not-allowed": "The path exists but not with this HTTP method.",
    "conflict": "The request conflicts with the resource's current state.",
    "idempotency-key-in-flight": "Another request with the same Idempotency-Key is being handled right "
                                 "now: retry the same request shortly to get its answer.",
    "body-too-large": "The request body is over the size limit; it was not read.",
    "idempotency-key-reused": "The Idempotency-Key was used before with a different request; use a "
                              "new key for a new request.",
    "value-out-of-range": "The database cannot store a value the request carried (a NUL character, a "
                          "number beyond its column's range).",
    "internal-error": "The service failed to answer; nothing can be assumed about the request's effect.",
    "unavailable": "The service cannot answer now (starting, or a dependency is down); retry later.",
}
"""kind slug -> one-line meaning, for docs/errors.md and the OpenAPI documents. A new kind is
added here, with its statuses in PROBLEM_STATUSES (and the doc regenerated: kinds_markdown())."""

PROBLEM_STATUSES: dict[str, tuple[int, ...]] = {
    "bad-request": (400,), "malformed-json": (400,), "invalid-request": (422, 400),
    "invalid-cursor": (400,), "unauthorized": (401,), "forbidden": (403,), "not-found": (404,),
    "method-not-allowed": (405,), "conflict": (409,), "idempotency-key-in-flight": (409,),
    "body-too-large": (413,), "idempotency-key-reused": (422,), "value-out-of-range": (422,),
    "internal-error": (500,), "unavailable": (503,),
}
"""kind slug -> the statuses it is answered with (first: the usual one). Problem() refuses any
other pairing, so docs/errors.md stays true."""

STATUS_KINDS: dict[int, str] = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 413: "body-too-large", 422: "invalid-request",
    500: "internal-error", 503: "unavailable",
}
"""The kind of a plain HTTPException (or problem() without a kind), by status."""


def problem_type(kind: str | None) -> str:
    """The `type` member for a kind; None (a status without a kind) -> about:blank."""
    return BLANK if kind is None else PROBLEM_BASE + kind


def _title(kind: str | None, status: int) -> str:
    # RFC 9457: a type's title does not change between occurrences, so it follows the kind
    # (invalid-request is answered with two statuses), not the status.
    if kind is None:
        return HTTPStatus(status).phrase
    return _TITLES.get(kind) or kind.replace("-", " ").capitalize()


_TITLES = {"malformed-json": "Malformed JSON", "idempotency-key-in-flight": "Idempotency-Key in flight",
           "idempotency-key-reused": "Idempotency-Key reused"}


def _checked_kind(status: int, kind: str | None) -> str | None:
    if kind is None:
        return STATUS_KINDS.get(status)
    # A programming error, so not ValueError (which the handlers below answer as the caller's 422).
    if kind not in PROBLEM_KINDS:
        raise LookupError(f"unknown problem kind {kind!r}; add it to shared.http_problems.PROBLEM_KINDS")
    if status not in PROBLEM_STATUSES[kind]:
        raise LookupError(f"problem kind {kind!r} is answered with {PROBLEM_STATUSES[kind]}, not {status}")
    return kind


def problem(status: int, detail: str, *, kind: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """An application/problem+json answer; `kind` defaults to the status's (STATUS_KINDS)."""
    kind = _checked_kind(status, kind)
    body: dict[str, Any] = {"type": problem_type(kind), "title": _title(kind, status), "status": status,
                            "detail": detail}
    # An extension member cannot overwrite a standard one.
    body.update((name, value) for name, value in extra.items() if name not in body)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


class Problem(Exception):
    """Raised by routes/use cases: becomes an application/problem+json answer.

    `kind` is a slug of PROBLEM_KINDS allowed with `status` (else LookupError at once: a bug);
    `extra` become extension members of the body, so they must be JSON-able."""

    def __init__(self, status: int, kind: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = _checked_kind(status, kind)
        self.detail = detail
        self.headers = headers
        self.extra = extra

    @property
    def type(self) -> str:
        return problem_type(self.kind)

    def response(self) -> JSONResponse:
        return problem(self.status, self.detail, kind=self.kind, headers=self.headers, **self.extra)

    def __repr__(self) -> str:
        return f"Problem({self.status}, {self.kind!r}, {self.detail!r})"


def kinds_markdown() -> str:
    """The table of docs/errors.md (tests/unit/test_http_problems_kinds.py checks it is there)."""
    rows = ["| `type` | Status | Meaning |", "|---|---|---|"]
    for kind, meaning in PROBLEM_KINDS.items():
        statuses = ", ".join(str(s) for s in PROBLEM_STATUSES[kind])
        rows.append(f"| `{problem_type(kind)}` | {statuses} | {meaning} |")
    return "\n".join(rows) + "\n"


class BodySizeLimit:
    """Answers 413 to a request whose body is larger than `limit` bytes: at once when its
    Content-Length says so, else as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, limit: int = MAX_HTTP_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # FastAPI turns any error while reading a body into its own 400; the flag
                    # lets the error handler answer 413 instead.
                    scope[_TOO_LARGE] = True
                    raise _BodyTooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"request body is over the {self.limit:,}-byte limit",
                           kind="body-too-large", headers={"Connection": "close"})
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


_TOO_LARGE = "peak.body_too_large"  # set in the request's scope when its body passed the limit


def _validation_detail(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)[:2000] or "invalid request"


def _jsonable_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # `input` and `ctx` may hold anything the caller sent (bytes, Decimals): kept out.
    return [{"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")),
             "type": str(err.get("type", ""))} for err in errors[:50]]


class ContractRoute(APIRoute):
    """A route whose body is an event contract: a body that breaks it is answered in the
    contract's own words, the reason a Kafka sender hears too (e.g. `lines.0.quantity must be
    positive, got 0`), not in FastAPI's. Malformed JSON and errors outside the body take the
    common handlers below."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = list(exc.errors())
                if any(e.get("type") == "json_invalid" for e in errors) or not any(
                        e.get("loc", ())[:1] == ("body",) for e in errors):
                    raise
                raise Problem(422, "invalid-request", describe_validation_error(_BodyErrors(errors)),  # type: ignore[arg-type]
                              errors=_jsonable_errors(errors)) from exc

        return route


class _BodyErrors:
    """FastAPI's errors as describe_validation_error() reads a ValidationError's: paths in the body."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self._errors = [{**e, "loc": tuple(e.get("loc", ()))[1:] if tuple(e.get("loc", ()))[:1] == ("body",)
                         else e.get("loc", ())} for e in errors]

    def errors(self, include_url: bool = False) -> list[dict[str, Any]]:
        return self._errors


def install(app: FastAPI) -> None:
    app.add_middleware(BodySizeLimit)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.scope.get(_TOO_LARGE):
            return problem(413, f"request body is over the {MAX_HTTP_BODY_BYTES:,}-byte limit",
                           kind="body-too-large", headers={"Connection": "close"})
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Problem)
    async def raised_problem(_request: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(err.get("type") == "json_invalid" for err in errors):
            return problem(400, "the body is not valid JSON: " + _validation_detail(errors),
                           kind="malformed-json", errors=_jsonable_errors(errors))
        return problem(422, _validation_detail(errors), kind="invalid-request", errors=_jsonable_errors(errors))

    @app.exception_handler(DataError)
    async def unstorable_value(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (PostgreSQL: a NUL character, a
        # number out of its column's range): the caller's input, so 422 with the reason.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        return problem(422, f"a value in the request cannot be stored: {reason}", kind="value-out-of-range")

    @app.exception_handler(ValueError)
    async def value_error(_request: Request, exc: ValueError) -> JSONResponse:
        # Domain rules raise ValueError with a reason a person can act on.
        return problem(422, str(exc), kind="invalid-request")


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference",
                 "description": "The kind of problem: /problems/<kind> (see docs/errors.md), or about:blank",
                 "enum": [*(problem_type(kind) for kind in PROBLEM_KINDS), BLANK]},
        "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def kinds_of(status: int) -> list[str]:
    """The kinds answered with `status`, in PROBLEM_KINDS order."""
    return [kind for kind, statuses in PROBLEM_STATUSES.items() if status in statuses]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: problem answers it gives beyond the ones every route
    documents (e.g. 400 `invalid-cursor` on a GET list), each naming its possible kinds."""
    def types(status: int) -> str:
        return ", ".join(f"`{t}`" for t in [problem_type(k) for k in kinds_of(status)] or [BLANK])

    return {status: {"description": f"{HTTPStatus(status).phrase}: {types(status)}",
                     "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
            for status in statuses}

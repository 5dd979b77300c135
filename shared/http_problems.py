"""Every HTTP error a service gives is an RFC 9457 problem body, and no body is read past the limit.

`install(app)` adds both to a FastAPI app: a size guard in front of everything (413 before the
body is read, whether it declares its length or streams it), and exception handlers that turn
FastAPI's and the services' errors into `application/problem+json` with a `detail` string a
person can act on (validation errors also list each problem under `errors`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.limits import MAX_HTTP_BODY_BYTES

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


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
                           headers={"Connection": "close"})
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


def install(app: FastAPI) -> None:
    app.add_middleware(BodySizeLimit)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.scope.get(_TOO_LARGE):
            return problem(413, f"request body is over the {MAX_HTTP_BODY_BYTES:,}-byte limit",
                           headers={"Connection": "close"})
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(err.get("type") == "json_invalid" for err in errors):
            return problem(400, "the body is not valid JSON: " + _validation_detail(errors),
                           errors=_jsonable_errors(errors))
        return problem(422, _validation_detail(errors), errors=_jsonable_errors(errors))

    @app.exception_handler(DataError)
    async def unstorable_value(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (PostgreSQL: a NUL character, a
        # number out of its column's range): the caller's input, so 422 with the reason.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        return problem(422, f"a value in the request cannot be stored: {reason}")

    @app.exception_handler(ValueError)
    async def value_error(_request: Request, exc: ValueError) -> JSONResponse:
        # Domain rules raise ValueError with a reason a person can act on.
        return problem(422, str(exc))


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}

"""`Idempotency-Key` on POSTs that create something: a retried POST creates nothing twice.

A client that timed out cannot tell whether its POST created anything; it sends the same request
again with the same `Idempotency-Key` (any printable ASCII, up to 200 characters, e.g. a UUID)
and gets the first answer back instead of a second creation. Following the IETF draft
(draft-ietf-httpapi-idempotency-key-header): a malformed key is a 400, the same key with another
request a 422 `idempotency-key-reused`, and the same key while its first request is still being
handled a 409 `idempotency-key-in-flight`. Keys are kept at least RETENTION (24 h).

A creating route runs its use case through `create_once` (below), inside one transaction of
`Work` (shared/http_app.py's unit of work):

    @router.post("/things", status_code=201, response_model=ThingOut)
    def create(req: ThingIn, work: Work, key: IdempotencyKey) -> Any:
        return create_once(work, "create-thing", key, req, 201, lambda uow: usecases.create_thing(uow, req))

The answer is remembered in the creation's own transaction, so it is kept if and only if the
creation (its rows and the events it put in the outbox) commits. Two requests with the same key at
once: both find no answer, both create, and the second's INSERT into this table meets the first's
primary key. On PostgreSQL that INSERT waits for the first transaction: once it commits, the second
gets an IntegrityError (its transaction, creation included, rolls back) and
`in_flight_conflict(exc)` is True; a replay in a new transaction then finds the first answer (if
the first rolled back instead, the INSERT succeeds and the second request is the one that creates).
On SQLite a service's writers take turns (shared/db.py), so the second request's replay() already
sees the first answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

from shared.http_problems import Problem
from shared.unit_of_work import UnitOfWork

TABLE_NAME = "idempotent_request"
PRIMARY_KEY_NAME = "idempotent_request_pkey"  # PostgreSQL's default name, spelled out for in_flight_conflict
MAX_KEY_LENGTH = 200
MAX_SCOPE_LENGTH = 200
RETENTION = timedelta(hours=24)
"""How long an answer is kept at least: a service calls forget_expired() at start-up."""
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_TABLE: Table = Table(
    TABLE_NAME, SQLModel.metadata,
    Column("scope", String(MAX_SCOPE_LENGTH), nullable=False),
    Column("key", String(MAX_KEY_LENGTH), nullable=False),
    Column("request_digest", String(), nullable=False),
    Column("status_code", Integer(), nullable=False),
    Column("response_json", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),  # tz-aware, read back in UTC
    PrimaryKeyConstraint("scope", "key", name=PRIMARY_KEY_NAME),
    Index("ix_idempotent_request_created_at", "created_at"),  # forget_before() deletes by age
)
"""One answered creation per (scope, key). shared/migrations.py add_idempotency_table() builds
exactly this table; a service lists it in its TABLES and adds a revision calling it."""

# Printable ASCII; a space only inside, since HTTP drops the ones at either end of a header.
_KEY_PATTERN = f"^[!-~]([ -~]{{0,{MAX_KEY_LENGTH - 2}}}[!-~])?$"
_KEY = re.compile(_KEY_PATTERN)


def idempotency_key(
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key",
        description="Optional: any printable ASCII up to 200 characters (a UUID, say), new for each "
                    "new request. The same POST sent again with the same key gets the first answer "
                    "(header `Idempotent-Replayed: true`) instead of creating anything again; the key "
                    "with a different body is a 422 `/problems/idempotency-key-reused`, while the "
                    "first is still being handled a 409 `/problems/idempotency-key-in-flight`. Keys "
                    "are kept at least 24 hours.",
        # Documented here, checked below: FastAPI's own check would answer 422 for a long key
        # and our check 400 for a bad character; the draft standard says 400 for both.
        json_schema_extra={"maxLength": MAX_KEY_LENGTH, "pattern": _KEY_PATTERN},
    ),
) -> str | None:
    """FastAPI dependency: the request's key, None when it sent none; a malformed one is a
    Problem(400, "invalid-request")."""
    if idempotency_key is None:
        return None
    if not _KEY.fullmatch(idempotency_key):
        raise Problem(400, "invalid-request",
                      f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, no space "
                      f"at either end (got {len(idempotency_key)} characters)")
    return idempotency_key


def scope_for(operation: str, subject: str) -> str:
    """A scope from the operation (route name) and the authenticated subject, at most 200
    characters: a subject too long to fit is replaced by its SHA-256."""
    scope = f"{operation}:{subject}"
    if len(scope) <= MAX_SCOPE_LENGTH:
        return scope
    return f"{operation}:#{hashlib.sha256(subject.encode('utf-8', 'surrogatepass')).hexdigest()}"[:MAX_SCOPE_LENGTH]


def request_digest(body: Any) -> str:
    """SHA-256 of the request as the route validated it: a pydantic model (or a dict, list or
    tuple of JSON-able values and models, e.g. (path_id, body)) as canonical JSON, keys sorted,
    Decimals as their strings, so whitespace and key order do not matter."""
    return hashlib.sha256(_canonical(body).encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(to_jsonable_python(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _stored_json(body: Any) -> str:
    # As the app would render it, so a replay is the same body; Decimals as strings (pydantic's
    # JSON mode), never floats.
    return json.dumps(to_jsonable_python(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def idempotent_response(status_code: int, body: Any) -> JSONResponse:
    """The first answer rendered exactly as replay() renders it again, for a route that returns a
    dict (FastAPI would turn its Decimals into floats); a route returning a pydantic model can
    return the model itself."""
    return JSONResponse(json.loads(_stored_json(body)), status_code=status_code)


def replay(session: Any, *, scope: str, key: str | None, digest: str) -> JSONResponse | None:
    """None when `key` is None or unseen in `scope`; the stored answer (same status, same body,
    header `Idempotent-Replayed: true`) when seen with the same digest; Problem(422,
    "idempotency-key-reused") when seen with another digest."""
    if key is None:
        return None
    _check(scope, key)
    row = session.execute(
        select(IDEMPOTENCY_TABLE.c.request_digest, IDEMPOTENCY_TABLE.c.status_code, IDEMPOTENCY_TABLE.c.response_json)
        .where(IDEMPOTENCY_TABLE.c.scope == scope, IDEMPOTENCY_TABLE.c.key == key)).first()
    if row is None:
        return None
    if row.request_digest != digest:
        raise Problem(422, "idempotency-key-reused",
                      "this Idempotency-Key was used before with a different request; "
                      "use a new key for a new request")
    return JSONResponse(json.loads(row.response_json), status_code=row.status_code,
                        headers={REPLAYED_HEADER: "true"})


def remember(session: Any, *, scope: str, key: str | None, digest: str, status_code: int, body: Any,
             now: datetime) -> None:
    """Keep the answer to replay, in the caller's transaction (kept iff the creation commits).
    No-op when `key` is None. `body`: a pydantic model or JSON-able value. The INSERT raises
    IntegrityError when a concurrent request with the same key got there first (see
    in_flight_conflict)."""
    if key is None:
        return
    _check(scope, key)
    if now.utcoffset() is None:
        raise TypeError("`now` must be timezone-aware")
    session.execute(insert(IDEMPOTENCY_TABLE).values(
        scope=scope, key=key, request_digest=digest, status_code=status_code,
        response_json=_stored_json(body), created_at=now))


def in_flight_conflict(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the INSERT of remember() meeting another request's
    answer with the same scope and key, on SQLite or PostgreSQL."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, IntegrityError) and _is_ours(current.orig):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_ours(orig: BaseException | None) -> bool:
    diag = getattr(orig, "diag", None)
    if diag is not None:  # psycopg: unique_violation on this table's primary key
        return getattr(orig, "sqlstate", None) == "23505" and diag.constraint_name == PRIMARY_KEY_NAME
    # sqlite3: "UNIQUE constraint failed: idempotent_request.scope, idempotent_request.key"
    return "UNIQUE constraint failed" in str(orig) and f"{TABLE_NAME}.scope" in str(orig)


def forget_before(session: Any, moment: datetime) -> int:
    """Delete the answers remembered before `moment`; returns how many."""
    result = session.execute(delete(IDEMPOTENCY_TABLE).where(IDEMPOTENCY_TABLE.c.created_at < moment))
    return int(result.rowcount or 0)


def forget_expired(session: Any, now: datetime) -> int:
    """forget_before(now - RETENTION): what a service runs at start-up."""
    return forget_before(session, now - RETENTION)


def _check(scope: str, key: str) -> None:
    # Longer would be a database error (PostgreSQL) or a silently longer key (SQLite): a bug in
    # the caller, since idempotency_key() and scope_for() bound both. Not a ValueError, which the
    # services answer as the caller's 422.
    if not 0 < len(scope) <= MAX_SCOPE_LENGTH or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise TypeError(f"scope and key must be 1 to {MAX_SCOPE_LENGTH} characters")


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
"""A route parameter: the request's `Idempotency-Key`, validated (None without one)."""


def create_once(work: Callable[[], AbstractContextManager[UnitOfWork]], operation: str, key: str | None,
                request: Any, status_code: int | Callable[[Any], int | None],
                create: Callable[[UnitOfWork], Any]) -> Any:
    """`create(uow)` in one unit of work, at most once per `Idempotency-Key` and caller: the
    answer is remembered in the creation's own transaction and the same request again gets it
    replayed (a JSONResponse marked `Idempotent-Replayed`); returns `create`'s answer otherwise.
    `operation` names the route in the key's scope, so one key may serve two different routes.
    `status_code` may depend on the answer; None then means: not an answer to keep."""
    digest = request_digest(request)
    scope = ""
    try:
        with work() as uow:
            scope = scope_for(operation, uow.actor.name)
            if (answer := replay(uow.session, scope=scope, key=key, digest=digest)) is not None:
                return answer
            created = create(uow)
            status = status_code(created) if callable(status_code) else status_code
            if status is not None:
                remember(uow.session, scope=scope, key=key, digest=digest, status_code=status, body=created,
                         now=uow.now)
    except IntegrityError as exc:
        if key is None or not in_flight_conflict(exc):
            raise
        with work() as uow:  # the other request has committed by now
            if (answer := replay(uow.session, scope=scope, key=key, digest=digest)) is not None:
                return answer
        raise Problem(409, "idempotency-key-in-flight", "a request with this Idempotency-Key is being handled; "
                                                        "send it again shortly for its answer") from exc
    return created

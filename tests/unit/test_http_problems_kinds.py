"""Every problem body has a stable `type` per kind of error (issue 28 item 4), every kind is in
docs/errors.md, and every handler of shared/http_problems.py gives the kind it documents."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import DataError

from shared.http_problems import (
    PROBLEM_BASE, PROBLEM_JSON, PROBLEM_KINDS, PROBLEM_SCHEMA, PROBLEM_STATUSES, STATUS_KINDS, Problem,
    install, kinds_markdown, problem, problem_responses, problem_type,
)
from shared.limits import MAX_HTTP_BODY_BYTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_docs_errors_md_holds_the_table_generated_from_problem_kinds() -> None:
    doc = DOC.read_text(encoding="utf-8")
    missing = [kind for kind in PROBLEM_KINDS if f"`{PROBLEM_BASE}{kind}`" not in doc]
    assert not missing, f"docs/errors.md does not list {missing}"
    assert kinds_markdown() in doc, (
        "docs/errors.md's table is out of step with PROBLEM_KINDS; replace it with:\n\n" + kinds_markdown())


def test_every_kind_has_statuses_and_every_default_kind_fits_its_status() -> None:
    assert set(PROBLEM_STATUSES) == set(PROBLEM_KINDS)
    for kind, meaning in PROBLEM_KINDS.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", kind), kind
        assert meaning.strip() and "|" not in meaning and "\n" not in meaning, kind  # one table cell
        assert PROBLEM_STATUSES[kind] and all(400 <= s <= 599 for s in PROBLEM_STATUSES[kind]), kind
    for status, kind in STATUS_KINDS.items():
        assert status in PROBLEM_STATUSES[kind], (status, kind)


def test_a_problem_of_an_unknown_kind_or_with_a_status_its_kind_has_not_is_refused_at_once() -> None:
    with pytest.raises(LookupError, match="unknown problem kind"):
        Problem(400, "invalid-cursr", "typo")
    with pytest.raises(LookupError, match="answered with"):
        Problem(404, "invalid-cursor", "wrong status")
    with pytest.raises(LookupError):
        problem(400, "x", kind="no-such-kind")
    # Not a ValueError: the services answer those as the caller's 422.
    assert not issubclass(LookupError, ValueError)


def test_problem_bodies_keep_their_standard_members_and_a_status_without_a_kind_is_about_blank() -> None:
    body = problem(409, "taken", kind="conflict", type="evil", title="Evil", hint="retry").body
    assert body == b'{"type":"/problems/conflict","title":"Conflict","status":409,"detail":"taken","hint":"retry"}'
    teapot = problem(418, "short and stout")
    assert teapot.body == b'{"type":"about:blank","title":"I\'m a Teapot","status":418,"detail":"short and stout"}'
    assert problem_type("invalid-cursor") == "/problems/invalid-cursor"
    raised = Problem(400, "invalid-cursor", "bad", headers={"X-Why": "test"}, at=3)
    assert (raised.status, raised.kind, raised.detail, raised.type, str(raised)) == (
        400, "invalid-cursor", "bad", "/problems/invalid-cursor", "bad")
    assert raised.response().headers["X-Why"] == "test"


def test_problem_responses_documents_the_kinds_of_a_status() -> None:
    [(status, doc)] = problem_responses(400).items()
    assert status == 400 and doc["content"][PROBLEM_JSON]["schema"] is PROBLEM_SCHEMA
    assert "`/problems/invalid-cursor`" in doc["description"] and "`/problems/malformed-json`" in doc["description"]


class Thing(BaseModel):
    name: str
    units: int


def raises_problem_in_a_dependency() -> None:
    raise Problem(400, "invalid-cursor", "from a dependency")


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install(app)

    @app.post("/things")
    def create(thing: Thing) -> Thing:
        return thing

    @app.get("/http/{status}")
    def http_error(status: int) -> None:
        raise HTTPException(status, f"plain {status}", headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)

    @app.get("/problem")
    def raises_problem() -> None:
        raise Problem(422, "idempotency-key-reused", "used before", headers={"X-Seen": "1"}, first_seen="yesterday")

    @app.get("/dependency", dependencies=[Depends(raises_problem_in_a_dependency)])
    def dependency() -> None:
        return None

    @app.get("/value-error")
    def value_error() -> None:
        raise ValueError("a domain rule says no")

    @app.get("/data-error")
    def data_error() -> None:
        raise DataError("INSERT ...", {}, Exception("value too long for type character varying(64)\nmore"))

    return TestClient(app)


CASES = {
    "invalid-request": (lambda c: c.post("/things", json={"name": "x", "units": "many"}), 422),
    "malformed-json": (lambda c: c.post("/things", content=b'{"name": ', headers={"Content-Type": "application/json"}), 400),
    "body-too-large": (lambda c: c.post("/things", content=b"x" * (MAX_HTTP_BODY_BYTES + 1)), 413),
    "body-too-large (streamed)": (lambda c: c.post("/things", content=iter([b"x" * MAX_HTTP_BODY_BYTES, b"x"])), 413),
    "not-found": (lambda c: c.get("/nowhere"), 404),
    "method-not-allowed": (lambda c: c.delete("/things"), 405),
    "idempotency-key-reused": (lambda c: c.get("/problem"), 422),
    "invalid-cursor": (lambda c: c.get("/dependency"), 400),
    "invalid-request (a domain rule)": (lambda c: c.get("/value-error"), 422),
    "value-out-of-range": (lambda c: c.get("/data-error"), 422),
}
# The handlers for HTTPException: each status raised by /http/{status} has its kind.
CASES |= {kind: (lambda c, status=status: c.get(f"/http/{status}"), status) for kind, status in (
    ("bad-request", 400), ("unauthorized", 401), ("forbidden", 403), ("conflict", 409), ("unavailable", 503),
    ("about:blank", 418))}


@pytest.mark.parametrize("case", CASES)
def test_each_handler_answers_its_documented_kind(client: TestClient, case: str) -> None:
    send, status = CASES[case]
    answer = send(client)
    kind = case.split(" ")[0]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body = answer.json()
    jsonschema.validate(body, PROBLEM_SCHEMA)
    assert body["type"] == ("about:blank" if kind == "about:blank" else f"/problems/{kind}")
    assert body["status"] == status and body["detail"]
    if kind != "about:blank":
        assert status in PROBLEM_STATUSES[kind]


def test_handlers_keep_headers_extension_members_and_the_reason(client: TestClient) -> None:
    assert client.get("/http/401").headers["WWW-Authenticate"] == "Bearer"
    reused = client.get("/problem")
    assert reused.headers["X-Seen"] == "1" and reused.json()["first_seen"] == "yesterday"
    assert client.post("/things", json={"name": "x", "units": "many"}).json()["errors"][0]["loc"] == ["body", "units"]
    assert client.get("/data-error").json()["detail"] == (
        "a value in the request cannot be stored: value too long for type character varying(64)")

"""shared/idempotency.py against the run's real database (SQLite; PostgreSQL under make
test-postgres), through a tiny FastAPI app whose one POST creates a widget the way a service's
creating route would: a retried POST with the same Idempotency-Key creates nothing twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from fastapi import Depends, FastAPI, Header
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from shared.db import transaction
from shared.http_problems import PROBLEM_JSON, Problem, install
from shared.idempotency import (
    IDEMPOTENCY_TABLE, forget_before, forget_expired, idempotency_key, in_flight_conflict, remember, replay,
    request_digest, scope_for,
)
from shared.migrations import add_idempotency_table, drop_idempotency_table, metadata_of

pytestmark = pytest.mark.integration

WIDGETS = Table("widget", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True),
                Column("name", String(64), nullable=False), Column("owner", String(64), nullable=False))
T0 = datetime(2026, 11, 11, tzinfo=UTC)


class WidgetIn(BaseModel):
    name: str
    price: Decimal
    tags: dict[str, str] = {}


class WidgetOut(BaseModel):
    id: int
    name: str
    price: Decimal
    tags: dict[str, str]


@pytest.fixture
def engine(engine_with):
    return engine_with([WIDGETS, IDEMPOTENCY_TABLE])


def build_app(engine, *, overlap: threading.Barrier | None = None) -> FastAPI:
    """`overlap`: both racing requests wait there after finding no answer, so that on PostgreSQL
    both create and the second meets the first's key (SQLite's writers take turns: not there)."""
    app = FastAPI()
    install(app)
    app.state.conflicts = 0

    @app.post("/widgets", status_code=201)
    def create_widget(body: WidgetIn, subject: str = Header("tester", alias="X-Subject"),
                      key: str | None = Depends(idempotency_key)) -> WidgetOut:
        scope = scope_for("create-widget", subject)
        digest = request_digest(body)
        try:
            with transaction(engine) as session:
                if (answer := replay(session, scope=scope, key=key, digest=digest)) is not None:
                    return answer
                if overlap is not None:
                    overlap.wait(timeout=20)
                new_id = session.execute(insert(WIDGETS).values(name=body.name, owner=subject)).inserted_primary_key[0]
                widget = WidgetOut(id=new_id, name=body.name, price=body.price, tags=body.tags)
                remember(session, scope=scope, key=key, digest=digest, status_code=201, body=widget, now=T0)
        except IntegrityError as exc:
            if not in_flight_conflict(exc):
                raise
            app.state.conflicts += 1
            with transaction(engine) as session:  # the other request has committed by now
                if (answer := replay(session, scope=scope, key=key, digest=digest)) is not None:
                    return answer
            raise Problem(409, "idempotency-key-in-flight", "a request with this key is being handled") from exc
        return widget

    return app


def widgets(engine) -> int:
    with transaction(engine) as session:
        return session.execute(select(func.count()).select_from(WIDGETS)).scalar_one()


BODY = {"name": "lamp", "price": "12.50", "tags": {"colour": "red", "size": "m"}}


def test_the_same_key_twice_creates_one_row_and_replays_the_first_answer(engine) -> None:
    client = TestClient(build_app(engine))
    first = client.post("/widgets", json=BODY, headers={"Idempotency-Key": "k-1"})
    # The same request spelled otherwise: other member order, whitespace.
    again = client.post("/widgets", content=b'{"tags": {"size": "m", "colour": "red"},  "price": "12.50", "name": "lamp"}',
                        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content and first.json()["price"] == "12.50"  # a Decimal's string, never a float
    assert widgets(engine) == 1


def test_the_same_key_with_another_body_is_a_422_with_the_stable_type(engine) -> None:
    client = TestClient(build_app(engine))
    assert client.post("/widgets", json=BODY, headers={"Idempotency-Key": "k-2"}).status_code == 201
    other = client.post("/widgets", json={**BODY, "price": "12.51"}, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM_JSON
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert widgets(engine) == 1


def test_without_a_key_or_with_another_clients_key_each_post_creates(engine) -> None:
    client = TestClient(build_app(engine))
    assert [client.post("/widgets", json=BODY).status_code for _ in range(2)] == [201, 201]
    mine = client.post("/widgets", json=BODY, headers={"Idempotency-Key": "k-3", "X-Subject": "alice"})
    theirs = client.post("/widgets", json=BODY, headers={"Idempotency-Key": "k-3", "X-Subject": "bob"})
    assert mine.status_code == theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert widgets(engine) == 4


@pytest.mark.parametrize("key", ["", " ", "k\u00e9", "k\x01", "k" * 201])
def test_a_malformed_key_is_a_400_and_creates_nothing(engine, key: str) -> None:
    client = TestClient(build_app(engine))
    answer = client.post("/widgets", json=BODY, headers={"Idempotency-Key": key.encode("latin-1")})
    assert answer.status_code == 400 and answer.json()["type"] == "/problems/invalid-request", answer.text
    assert widgets(engine) == 0


def test_two_requests_racing_with_the_same_key_create_one_row(engine) -> None:
    postgres = engine.dialect.name == "postgresql"
    app = build_app(engine, overlap=threading.Barrier(2) if postgres else None)
    start = threading.Barrier(2)
    answers = []

    def post() -> None:
        client = TestClient(app)
        start.wait(timeout=20)
        answers.append(client.post("/widgets", json=BODY, headers={"Idempotency-Key": "k-race"}))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 2 and widgets(engine) == 1
    winner, loser = sorted(answers, key=lambda a: "Idempotent-Replayed" in a.headers or a.status_code == 409)
    assert winner.status_code == 201 and "Idempotent-Replayed" not in winner.headers
    assert (loser.status_code == 409 and loser.json()["type"] == "/problems/idempotency-key-in-flight") or (
        loser.status_code == 201 and loser.headers["Idempotent-Replayed"] == "true" and loser.content == winner.content)
    # PostgreSQL: both created, the loser's INSERT met the winner's key and was rolled back.
    assert app.state.conflicts == (1 if postgres else 0)


def test_in_flight_conflict_knows_this_tables_key_from_other_integrity_errors(engine) -> None:
    def keep(scope: str) -> None:
        with transaction(engine) as session:
            remember(session, scope=scope, key="k", digest="d", status_code=201, body={"id": 1}, now=T0)

    keep("s")
    with pytest.raises(IntegrityError) as ours:
        keep("s")
    assert in_flight_conflict(ours.value)
    try:
        try:
            raise ours.value
        except IntegrityError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert in_flight_conflict(wrapped)
    with pytest.raises(IntegrityError) as other:
        with transaction(engine) as session:
            session.execute(insert(WIDGETS).values(id=7, name="a", owner="o"))
            session.execute(insert(WIDGETS).values(id=7, name="b", owner="o"))
    assert not in_flight_conflict(other.value) and not in_flight_conflict(ValueError("x"))


def test_replay_and_remember_do_nothing_without_a_key_and_refuse_what_cannot_be_stored(engine) -> None:
    with transaction(engine) as session:
        remember(session, scope="s", key=None, digest="d", status_code=201, body={}, now=T0)
        assert replay(session, scope="s", key=None, digest="d") is None
        assert replay(session, scope="s", key="unseen", digest="d") is None
        with pytest.raises(TypeError):  # a bug in the caller, not the client's 422
            remember(session, scope="s" * 201, key="k", digest="d", status_code=201, body={}, now=T0)
        with pytest.raises(TypeError):
            remember(session, scope="s", key="k", digest="d", status_code=201, body={}, now=T0.replace(tzinfo=None))
        assert session.execute(select(func.count()).select_from(IDEMPOTENCY_TABLE)).scalar_one() == 0


def test_a_long_subject_still_makes_a_scope_that_fits() -> None:
    assert scope_for("create-widget", "alice") == "create-widget:alice"
    long = scope_for("create-widget", "x" * 500)
    assert len(long) <= 200 and long != scope_for("create-widget", "x" * 499)


def test_request_digest_ignores_member_order_but_not_values() -> None:
    a = WidgetIn(name="lamp", price=Decimal("12.50"), tags={"a": "1", "b": "2"})
    b = WidgetIn(name="lamp", price=Decimal("12.50"), tags={"b": "2", "a": "1"})
    assert request_digest(a) == request_digest(b) == request_digest(a.model_dump())
    assert request_digest(a) != request_digest(a.model_copy(update={"price": Decimal("12.5")}))
    assert request_digest(("W-1", a)) != request_digest(("W-2", a))


def test_keys_are_forgotten_after_retention(engine) -> None:
    with transaction(engine) as session:
        for i, at in enumerate([T0, T0 + timedelta(hours=23), T0 + timedelta(hours=25)]):
            remember(session, scope="s", key=f"k{i}", digest="d", status_code=201, body={"i": i}, now=at)
    with transaction(engine) as session:
        assert forget_expired(session, T0 + timedelta(hours=24, seconds=1)) == 1
        assert forget_before(session, T0) == 0
        assert replay(session, scope="s", key="k0", digest="d") is None
        assert replay(session, scope="s", key="k1", digest="d").status_code == 201


def test_the_migration_builds_exactly_the_table_and_drops_it(engine_with) -> None:
    engine = engine_with([])
    with engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            add_idempotency_table()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata_of([IDEMPOTENCY_TABLE])) == []
    with engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            drop_idempotency_table()
    assert not inspect(engine).has_table("idempotent_request")

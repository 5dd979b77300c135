"""shared/pagination.py: cursors round-trip every supported key exactly, anything else sent as a
cursor is a 400 `invalid-cursor` and nothing else, and a keyset walk over a real table sees every
row once."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, tuple_
from sqlmodel.sql.sqltypes import UTCDateTime

from shared.db import make_engine
from shared.http_problems import Problem, install
from shared.pagination import (
    DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, PageRequest, decode_cursor, encode_cursor, next_cursor, page_request,
)

UTC_OFFSETS = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
KEY_VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10),
    # Year 2 to 9998: every offset can move such a moment to UTC and back.
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.one_of(st.just(UTC), UTC_OFFSETS)),
    st.builds(lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
              st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=40), st.integers(-40, 40)),
)


def same(a: object, b: object) -> bool:
    """Equal, and of the same type; a Decimal with the same digits and exponent too."""
    if isinstance(a, Decimal):
        return isinstance(b, Decimal) and a.as_tuple() == b.as_tuple()
    if isinstance(a, datetime):
        return isinstance(b, datetime) and a == b and b.tzinfo is UTC
    return type(a) is type(b) and a == b


@given(st.lists(KEY_VALUES, min_size=1, max_size=5))
def test_every_supported_key_round_trips_exactly(key: list) -> None:
    cursor = encode_cursor(*key)
    assert len(cursor) <= MAX_CURSOR_LENGTH and cursor.isascii() and "=" not in cursor
    assert base64.urlsafe_b64decode(cursor + "==")  # url-safe base64, unpadded
    decoded = decode_cursor(cursor)
    assert len(decoded) == len(key) and all(same(a, b) for a, b in zip(key, decoded, strict=True)), (key, decoded)


def expect_invalid(cursor: object) -> None:
    try:
        key = decode_cursor(cursor)  # type: ignore[arg-type]
    except Problem as problem:
        assert (problem.status, problem.kind) == (400, "invalid-cursor")
        return
    # Whatever decodes is a key encode_cursor writes, spelled as it spells it.
    assert encode_cursor(*key) == cursor


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["d", "n", "x"]) | st.text(max_size=2), inner, max_size=2),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=MAX_CURSOR_LENGTH + 20),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=80),
    st.binary(max_size=80),
    st.binary(max_size=300).map(b64),
    JSON.map(lambda v: b64(json.dumps(v).encode())),
    JSON.map(lambda v: b64(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))),
    st.lists(KEY_VALUES, min_size=1, max_size=3).map(lambda key: encode_cursor(*key)[:-1]),
))
def test_decoding_anything_is_a_key_or_a_400_invalid_cursor(cursor: object) -> None:
    expect_invalid(cursor)


def tagged(*values: object) -> str:
    return b64(json.dumps(list(values), separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


ODD = {
    "empty": "",
    "not base64url": "W10+",
    "padded": encode_cursor("O-1") + "=",
    "too long": "A" * (MAX_CURSOR_LENGTH + 1),
    "not UTF-8": b64(b"\xff\xfe[1]"),
    "not JSON": b64(b"[1,"),
    "not a list": b64(b'{"a":1}'),
    "no values": tagged(),
    "nine values": tagged(*range(9)),
    "whitespace": b64(b"[1, 2]"),
    "a float": tagged(1.5),
    "NaN": b64(b"[NaN]"),
    "a bool": tagged(True),
    "nested": tagged([["O-1"]]),
    "deeply nested": b64(b"[" * 180 + b"]" * 180),
    "an unknown tag": tagged({"x": "1"}),
    "two tags": tagged({"d": "2026-11-11T00:00:00+00:00", "n": "1"}),
    "a tag on a number": tagged({"n": 1}),
    "a NUL": tagged("O-\x00"),
    "a lone surrogate": tagged("O-\ud800"),
    "an int past 64 bits": tagged(2**63),
    "a naive datetime": tagged({"d": "2026-11-11T00:00:00"}),
    "a datetime not in UTC": tagged({"d": "2026-11-11T08:00:00+08:00"}),
    "a datetime spelled with Z": tagged({"d": "2026-11-11T00:00:00Z"}),
    "a datetime out of range once in UTC": tagged({"d": "0001-01-01T00:00:00+05:00"}),
    "not a datetime": tagged({"d": "soon"}),
    "NaN Decimal": tagged({"n": "NaN"}),
    "Infinity Decimal": tagged({"n": "Infinity"}),
    "a huge exponent": tagged({"n": "1E+999999999"}),
    "41 digits": tagged({"n": "1" * 41}),
    "not a number": tagged({"n": "12,50"}),
    "a Decimal spelled otherwise": tagged({"n": " 12.50"}),
    "bytes": encode_cursor("O-1").encode(),
    "None": None,
}


@pytest.mark.parametrize("case", ODD)
def test_odd_cursors_are_400_invalid_cursor(case: str) -> None:
    with pytest.raises(Problem) as raised:
        decode_cursor(ODD[case])  # type: ignore[arg-type]
    assert (raised.value.status, raised.value.kind, raised.value.type) == (400, "invalid-cursor", "/problems/invalid-cursor")


@pytest.mark.parametrize("key", [
    (), (True,), (1.5,), (datetime(2026, 11, 11),), (Decimal("NaN"),), (2**63,), ("O-\x00",), (b"O-1",),
    ("x" * 400,), tuple(range(9)), (["nested"],),
])
def test_a_key_a_cursor_cannot_carry_is_a_type_error_not_the_callers_422(key: tuple) -> None:
    with pytest.raises(TypeError):
        encode_cursor(*key)


def test_next_cursor_points_after_the_pages_last_row_only_when_there_is_a_next_row() -> None:
    rows = [("2026-11-11", f"O-{i}") for i in range(4)]
    assert next_cursor(rows[:3], 3, lambda r: r) is None
    assert next_cursor([], 3, lambda r: r) is None
    assert decode_cursor(next_cursor(rows, 3, lambda r: r)) == rows[2]


def test_after_matching_refuses_a_cursor_of_another_lists_shape() -> None:
    page = PageRequest(limit=10, after=(datetime(2026, 11, 11, tzinfo=UTC), "O-1"))
    assert page.after_matching(datetime, str) == page.after and page.fetch_limit == 11
    assert PageRequest(limit=10, after=None).after_matching(datetime, str) is None
    assert page.after_matching(datetime, (str, type(None))) == page.after
    for shape in [(str, str), (datetime,), (datetime, str, int)]:
        with pytest.raises(Problem) as raised:
            page.after_matching(*shape)
        assert raised.value.kind == "invalid-cursor"


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory):
    """A table of 23 rows, 5 of them at the same moment (the id breaks the tie), and a list
    route over it paged as shared/pagination.py's docstring says."""
    metadata = MetaData()
    things = Table("thing", metadata, Column("id", String, primary_key=True),
                   Column("created_at", UTCDateTime(), nullable=False), Column("n", Integer))
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('walk') / 'db.sqlite'}")
    metadata.create_all(engine)
    t0 = datetime(2026, 11, 11, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(things), [{"id": f"T-{i:02d}", "n": i,
                                       "created_at": t0 + timedelta(seconds=max(0, i - 5))} for i in range(23)])
    app = FastAPI()
    install(app)

    @app.get("/things")
    def list_things(page: PageRequest = Depends(page_request)) -> dict:
        after = page.after_matching(datetime, str)
        query = select(things).order_by(things.c.created_at, things.c.id).limit(page.fetch_limit)
        if after is not None:
            query = query.where(tuple_(things.c.created_at, things.c.id) > tuple_(*after))
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        return {"items": [r.n for r in rows[:page.limit]],
                "next_cursor": next_cursor(rows, page.limit, lambda r: (r.created_at, r.id))}

    yield TestClient(app)
    engine.dispose()


@pytest.mark.parametrize("limit", [1, 4, 5, 22, 23, 500])
def test_a_keyset_walk_sees_every_row_once(walk: TestClient, limit: int) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        answer = walk.get("/things", params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(23)) and pages == -(-23 // limit)  # no empty last page


def test_page_request_defaults_and_bounds(walk: TestClient) -> None:
    assert len(walk.get("/things").json()["items"]) == min(DEFAULT_LIMIT, 23)
    for limit in (0, MAX_LIMIT + 1, "ten"):
        answer = walk.get("/things", params={"limit": limit})
        assert answer.status_code == 422 and answer.json()["type"] == "/problems/invalid-request"
    too_long = walk.get("/things", params={"cursor": "A" * (MAX_CURSOR_LENGTH + 1)})
    assert too_long.status_code == 422 and too_long.json()["type"] == "/problems/invalid-request"
    for cursor in ("garbage", encode_cursor("T-01"), encode_cursor(1, 2)):
        answer = walk.get("/things", params={"cursor": cursor})
        assert answer.status_code == 400 and answer.json()["type"] == "/problems/invalid-cursor", answer.text

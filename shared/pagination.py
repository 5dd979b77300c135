"""One way to paginate every list endpoint: `limit` + an opaque `cursor` (keyset pagination).

A list route takes `page: PageRequest = Depends(page_request)`, orders its rows by a sort key
that is unique and never NULL (e.g. `(created_at, id)`: add the id as a tie-breaker), fetches
`page.fetch_limit` (limit + 1) rows after `page.after`, and answers the first `limit` of them
with `next_cursor(rows, page.limit, key)`:

    after = page.after_matching(datetime, str)          # None on the first page
    query = select(Thing).order_by(Thing.created_at, Thing.id).limit(page.fetch_limit)
    if after is not None:
        query = query.where(tuple_(Thing.created_at, Thing.id) > tuple_(*after))
    rows = session.exec(query).all()
    return {"items": rows[:page.limit], "next_cursor": next_cursor(rows, page.limit, lambda t: (t.created_at, t.id))}

Unlike an offset, a cursor neither skips nor repeats rows when rows are added before it while a
client pages, and costs one index seek however deep the page.

A cursor is base64url (no padding) of a compact JSON array of the key's values: str, int (64-bit),
None, and tagged `{"d": ISO-8601}` for a datetime (always UTC) and `{"n": "1.50"}` for a Decimal
(its string, so no float ever touches it). Clients must treat it as opaque. It is not signed: it
carries no authority, only sort-key values that the store binds as parameters of the page's
query, never as SQL, and that query still applies the caller's own filters and access checks. A
forged cursor can therefore only ask for a page the caller could reach by paging anyway. Decoding
is strict (one canonical spelling per key, bounded size and values) so that a forged value cannot
reach the database as something it would refuse (a NUL character, an int beyond 64 bits, a
Decimal exponent no column holds): anything odd is a 400 `invalid-cursor` problem, nothing else.
A future change of format must still read today's cursors, or answer them `invalid-cursor`
(clients then start again from the first page).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import Query

from shared.http_problems import Problem

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 500
"""Characters of a cursor (the `cursor` query parameter's maxLength): about 370 bytes of key."""
MAX_KEY_VALUES = 8
"""Values in one sort key."""
MAX_DECIMAL_DIGITS = 40
MAX_DECIMAL_EXPONENT = 40
"""A Decimal in a cursor has at most 40 significant digits and its exponent within +-40 (money
and quantities need far less; PostgreSQL's numeric and SQLite both hold those)."""
INT_RANGE = range(-(2**63), 2**63)
"""Ints that fit a BIGINT column."""

_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: tuple[Any, ...] | None  # the decoded sort key of the last row of the previous page

    @property
    def fetch_limit(self) -> int:
        """Rows to fetch: one more than the page, to learn whether a next page exists."""
        return self.limit + 1

    def after_matching(self, *types: type | tuple[type, ...]) -> tuple[Any, ...] | None:
        """`after`, checked against the route's sort key: one type (or tuple of types) per value.
        A cursor of another endpoint's shape is a 400 `invalid-cursor`, not a confusing query."""
        if self.after is None:
            return None
        if len(self.after) != len(types) or not all(
                isinstance(value, kind) for value, kind in zip(self.after, types, strict=True)):
            raise Problem(400, "invalid-cursor", "the cursor does not belong to this list; "
                                                 "start again without a cursor")
        return self.after


def page_request_within(default: int, maximum: int) -> Callable[..., PageRequest]:
    """A FastAPI dependency: the page a list route is asked for, `limit` + `cursor`, within a
    list's own bounds (`page_request` is the usual one)."""

    def page(limit: int = Query(default, ge=1, le=maximum,
                                description=f"Rows per page, 1 to {maximum} (default {default})."),
             cursor: str | None = Query(None, max_length=MAX_CURSOR_LENGTH,
                                        description="Opaque: the `next_cursor` of the previous page; omit it for "
                                                    "the first page. A cursor this API did not hand out is a 400 "
                                                    "`/problems/invalid-cursor`.")) -> PageRequest:
        return PageRequest(limit=limit, after=None if cursor is None else decode_cursor(cursor))

    return page


page_request = page_request_within(DEFAULT_LIMIT, MAX_LIMIT)
"""A FastAPI dependency: the page a list route is asked for (50 rows by default, up to 500)."""


def next_cursor(rows: Sequence[T], limit: int, key: Callable[[T], tuple[Any, ...]]) -> str | None:
    """Callers fetch limit+1 rows; the cursor after the page's last row if there was a next row
    (callers answer rows[:limit]), else None."""
    if len(rows) <= limit:
        return None
    return encode_cursor(*key(rows[limit - 1]))


# ---------------------------------------------------------------------------------------------
# The format


def encode_cursor(*key: Any) -> str:
    """Opaque and url-safe. Values: str, int, datetime (tz-aware; kept as UTC), Decimal, None.
    Anything else, or a key too large for a cursor, is a TypeError: a bug in the route (its sort
    key must fit), so not a ValueError, which the services answer as the caller's 422."""
    try:
        return _encode(key)
    except ValueError as exc:
        raise TypeError(str(exc)) from exc


def _encode(key: tuple[Any, ...]) -> str:
    if not 1 <= len(key) <= MAX_KEY_VALUES:
        raise ValueError(f"a cursor carries 1 to {MAX_KEY_VALUES} values, not {len(key)}")
    text = json.dumps([_encode_value(v) for v in key], ensure_ascii=False, separators=(",", ":"))
    cursor = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError(f"the sort key {key!r} makes a cursor over {MAX_CURSOR_LENGTH} characters")
    return cursor


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    """The key encode_cursor() was given; anything else is Problem(400, "invalid-cursor")."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH or not _ALPHABET.fullmatch(cursor):
        raise _invalid("it is not a cursor this API hands out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        # No floats and no NaN/Infinity: only the types encode_cursor writes.
        values = json.loads(raw.decode("utf-8"), parse_float=_refuse, parse_constant=_refuse)
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_KEY_VALUES:
            raise ValueError("not a list of 1 to 8 values")
        key = tuple(_decode_value(v) for v in values)
        # One spelling per key: whitespace, other key orders, padding bits, offsets other than
        # UTC or other digits for the same value are all refused.
        if _encode(key) != cursor:
            raise ValueError("not in canonical form")
    except (ValueError, TypeError, ArithmeticError, RecursionError, binascii.Error) as exc:
        # UnicodeDecodeError and json's errors are ValueErrors; decimal's InvalidOperation and a
        # datetime moved past year 1 or 9999 by its offset (OverflowError) are ArithmeticErrors.
        raise _invalid("it is not a cursor this API hands out") from exc
    return key


def _invalid(why: str) -> Problem:
    return Problem(400, "invalid-cursor", f"invalid cursor: {why}; start again without a cursor")


def _refuse(text: str) -> Any:
    raise ValueError(f"{text} is not a cursor value")


def _encode_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):  # before int: a bool is an int, and would not come back a bool
        raise TypeError("a cursor cannot carry a bool")
    if isinstance(value, int):
        if value not in INT_RANGE:
            raise ValueError(f"{value} does not fit 64 bits")
        return value
    if isinstance(value, str):
        _check_text(value)
        return value
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{value!r} has no timezone")
        return {"d": value.astimezone(UTC).isoformat()}
    if isinstance(value, Decimal):
        _check_decimal(value)
        return {"n": str(value)}
    raise TypeError(f"a cursor cannot carry {type(value).__name__} {value!r}")


def _decode_value(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value  # checked when encoded again
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (tag, text), = value.items()
        if isinstance(text, str) and tag == "d":
            moment = datetime.fromisoformat(text)
            if moment.utcoffset() is None:
                raise ValueError("a datetime without a timezone")
            return moment.astimezone(UTC)
        if isinstance(text, str) and tag == "n":
            # Decimal() reads more than str() writes (spaces, '_'); re-encoding catches those.
            return Decimal(text)
    raise ValueError(f"{type(value).__name__} is not a cursor value")


def _check_text(value: str) -> None:
    # PostgreSQL cannot hold NUL in text, and a lone surrogate cannot be encoded for the driver:
    # neither can be a stored key, and a forged one would reach the database as an error.
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("a NUL character or a lone surrogate cannot be in a cursor")


def _check_decimal(value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    sign_, digits, exponent = value.as_tuple()
    if len(digits) > MAX_DECIMAL_DIGITS or not -MAX_DECIMAL_EXPONENT <= int(exponent) <= MAX_DECIMAL_EXPONENT:
        raise ValueError(f"{value} has more digits or a larger exponent than a cursor carries")

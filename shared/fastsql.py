"""Hot statements run straight on the database driver's cursor, compiled once per dialect.

At peak every order passes a handful of fixed statements in each service (is it decided? reserve
this sku, insert this row, append this outbox message). Through `Session.execute` each call
costs SQLAlchemy's whole execution machinery, about ten times what SQLite itself spends on the
statement; `make profile` showed it as most of every handler's time. A `FastStatement` keeps
SQLAlchemy for what it is good at, turning a Core statement into the dialect's SQL and knowing
each column type's bind and result conversions, and does only the per-call part itself:

- the SQL text, parameter order and type processors are worked out once per dialect (and, for
  an INSERT, per set of columns given; for an `IN` list, per list length);
- each call converts the values with the same processors SQLAlchemy would use, so a row written
  here reads back exactly like one written through the ORM, and runs the SQL on the cursor of the
  session's own connection, inside the session's transaction (savepoints included);
- columns' Python-side defaults are filled in for INSERTs, as SQLAlchemy would;
- driver errors come out as SQLAlchemy's exceptions (`IntegrityError`, ...), so callers catch
  the same ones either way.

Pending ORM changes are flushed first (autoflush), so a fast read sees what the session added.
Only for fixed-shape statements; anything else goes through `Session.execute` as usual.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Insert
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

_CONNECTION = "fastsql.connection"  # session.info: (innermost transaction, DBAPI connection, dialect)
# Each statement gets its own cursor, closed before it returns. A cursor kept for later (one
# per transaction, as this module once did) outlives the transaction and is freed whenever the
# garbage collector gets to it, in whatever thread: by then the pooled connection belongs to
# another thread, and sqlite3 resetting the old cursor's statement under that thread's
# executemany failed it with "bad parameter or other API misuse" and left SQLite's write lock
# held until the busy timeout (30 s), one batch in about 100,000 orders.


@dataclass(frozen=True)
class _Plan:
    """One dialect's (and shape's) SQL with what a call needs to bind its values."""

    sql: str
    names: tuple[str, ...]  # positional: the parameter of each placeholder, in order
    slot_processors: tuple[Callable[[Any], Any] | None, ...]  # positional: each placeholder's conversion
    positional: bool
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]  # bind conversions by name
    fixed: Mapping[str, Any]  # values the statement itself carries (literals, defaults)
    defaults: tuple[tuple[str, Any], ...]  # INSERT column defaults: (name, value or callable)
    expanding: tuple[str, ...]  # IN-list parameters


class FastStatement:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[tuple, _Plan] = {}
        self._row_types: dict[str, tuple[type, tuple[Callable[[Any], Any] | None, ...]]] = {}
        # IN lists: their lengths are part of a plan's shape (the bind names are the same in
        # every dialect, so the default dialect's compilation tells which they are).
        self._expanding = tuple(sorted(name for name, bind in statement.compile().binds.items() if bind.expanding))

    # -- running -------------------------------------------------------------------------------

    def execute(self, session: Session, params: Mapping[str, Any] | None = None) -> "FastResult":
        params = params or {}
        connection, dialect = _connection(session)
        plan = self._plan(dialect, params)
        values = _bind(plan, params)
        cursor = connection.cursor()
        try:
            try:
                cursor.execute(plan.sql, values)
            except dialect.loaded_dbapi.Error as error:  # type: ignore[attr-defined]
                raise _wrapped(plan.sql, values, error, dialect) from error
            return FastResult(cursor, self._rows_of(dialect, cursor))
        finally:
            cursor.close()

    def executemany(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Many parameter sets (e.g. one INSERT per row); rows with different keys are grouped."""
        if not rows:
            return
        connection, dialect = _connection(session)
        groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
        cursor = connection.cursor()
        try:
            for group in groups.values():
                plan = self._plan(dialect, group[0])
                values = [_bind(plan, row) for row in group]
                try:
                    cursor.executemany(plan.sql, values)
                except dialect.loaded_dbapi.Error as error:  # type: ignore[attr-defined]
                    raise _wrapped(plan.sql, values[:5], error, dialect) from error
        finally:
            cursor.close()

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        shape: tuple = ()
        if isinstance(self.statement, Insert):
            shape = tuple(params)
        elif self._expanding:
            shape = tuple(len(params[name]) for name in self._expanding)
        key = (dialect.name, dialect.driver, shape)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(dialect, params)
        return plan

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        kwargs: dict[str, Any] = {}
        if isinstance(self.statement, Insert):
            kwargs["column_keys"] = list(params)
        compiled = self.statement.compile(dialect=dialect, **kwargs)
        defaults: list[tuple[str, Any]] = []
        for column in getattr(compiled, "insert_prefetch", ()):
            default = column.default
            if default is None or not (default.is_scalar or default.is_callable):
                raise TypeError(f"{column}: only scalar or callable Python defaults are supported here")
            defaults.append((column.key, default.arg if default.is_scalar else _no_context(default.arg)))
        fixed = {name: bind.effective_value for name, bind in compiled.binds.items()
                 if not bind.required and not bind.expanding and name not in params}
        # With the IN lists expanded (a sample of `params`, same lengths), SQLAlchemy gives the
        # final SQL, the order of the positional parameters and the processors of each.
        sample = {**fixed, **{name: None for name in compiled.binds}, **dict(defaults), **params}
        state = compiled.construct_expanded_state(sample)
        # The expanded state lists only the IN lists' processors; the others are the compiled
        # statement's own (what SQLAlchemy's execution context applies).
        processors = {**compiled._bind_processors, **state.processors}
        for name, bind in compiled.binds.items():
            if name in processors and _is_utc_datetime_on_sqlite(bind.type, dialect):
                processors[name] = _utc_datetime_to_sqlite_text
        names = tuple(state.positiontup or ())
        return _Plan(sql=state.statement, names=names, slot_processors=tuple(processors.get(n) for n in names),
                     positional=compiled.positional,
                     processors=tuple(processors.items()), fixed=fixed, defaults=tuple(defaults),
                     expanding=self._expanding)

    def _rows_of(self, dialect: Dialect, cursor: Any) -> Callable[[list[tuple]], list[Any]] | None:
        if cursor.description is None:
            return None
        if dialect.name not in self._row_types:
            names = [d[0] for d in cursor.description]
            columns = list(getattr(self.statement, "selected_columns", None) or self.statement.exported_columns)
            processors = tuple(_result_processor(column.type, dialect) for column in columns)
            if len(processors) != len(names):
                processors = (None,) * len(names)
            self._row_types[dialect.name] = (namedtuple("Row", names, rename=True), processors)  # type: ignore[misc]
        row_type, processors = self._row_types[dialect.name]  # type: ignore[misc]

        def build(raw: list[tuple]) -> list[Any]:
            if not any(processors):
                return [row_type._make(r) for r in raw]
            return [row_type._make([p(v) if p else v for p, v in zip(processors, r)]) for r in raw]

        return build


def in_list_chunks(values: Sequence[Any], size: int = 512) -> Iterator[list[Any]]:
    """`values` for an expanding IN parameter, at most `size` (a power of two) at a time, each
    list padded to a power of two by repeating its last value (a value twice in an IN list
    changes nothing). A plan is compiled per list length: this way a batch read compiles a
    handful of shapes, not one per batch length."""
    for start in range(0, len(values), size):
        chunk = list(values[start:start + size])
        yield chunk + chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))


class FastResult:
    """The few things callers ask of a result: rows (with names), one row, one value, rowcount."""

    def __init__(self, cursor: Any, build: Callable[[list[tuple]], list[Any]] | None) -> None:
        self.rowcount: int = cursor.rowcount
        self._rows = build(cursor.fetchall()) if build is not None else []

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any | None:
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound("more than one row")
        return self.first()

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise sa_exc.NoResultFound("no row")
        return row

    def scalar_one_or_none(self) -> Any | None:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


def _bind(plan: _Plan, params: Mapping[str, Any]) -> Any:
    """The driver's parameters for one call: what the statement carries, then the columns'
    defaults, then the caller's values, IN lists spread out, each converted for the column."""
    values = params
    if plan.fixed or plan.defaults or plan.expanding:
        values = {**plan.fixed, **{name: default() if callable(default) else default
                                   for name, default in plan.defaults if name not in params}, **params}
        for name in plan.expanding:
            for i, item in enumerate(values.pop(name), 1):
                values[f"{name}_{i}"] = item
    if plan.positional:  # the hot case (SQLite): one pass over the placeholders
        return tuple([v if process is None else process(v)
                      for process, v in zip(plan.slot_processors, map(values.__getitem__, plan.names))])
    converted = dict(values)
    for name, process in plan.processors:
        if name in converted:
            converted[name] = process(converted[name])
    return converted


# Times: every row of every service carries two or three, and SQLAlchemy's conversion for
# SQLModel's UTCDateTime on SQLite is two nested processors (the UTC check, then a %-format of a
# dict of the parts; on the way back the same nesting): 4.9 us a value to write, 2.1 us
# here. The text is the same (tests/integration/test_fastsql.py checks it), so
# rows written either way read back alike.

def _is_utc_datetime_on_sqlite(type_: Any, dialect: Dialect) -> bool:
    return dialect.name == "sqlite" and isinstance(type_, UTCDateTime)


# The same moments are bound again and again: a batch's inbox rows share one time, the outbox
# rows of a transaction share their created and lease times, and a handler's `now` goes into
# several columns of a row. The last two conversions are kept with the values themselves
# (holding them, so their ids cannot be reused by other objects); the tuple is replaced in one
# step, so threads sharing it can only miss, never mix values up.
_recent_conversions: tuple[Any, Any, Any, Any] = (None, None, None, None)  # newest value, text, older value, text


def _utc_datetime_to_sqlite_text(value: Any, _utc: Any = UTC) -> Any:
    global _recent_conversions
    recent = _recent_conversions
    if recent[0] is value:
        return recent[1]
    if recent[2] is value:
        return recent[3]
    text = _convert_utc_datetime(value, _utc)
    if value.__class__ is datetime:
        _recent_conversions = (value, text, recent[0], recent[1])
    return text


def _convert_utc_datetime(value: Any, _utc: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return _SQLALCHEMY_UTC_BIND(value)  # a date, or the same errors SQLAlchemy raises
    if value.tzinfo is not _utc:
        if value.utcoffset() is None:
            return _SQLALCHEMY_UTC_BIND(value)  # refused there: naive
        value = value.astimezone(_utc)
    text = value.isoformat(" ")[:-6]  # without its "+00:00": half the time of replace(tzinfo=None) first
    return text if value.microsecond else text + ".000000"  # isoformat drops zero microseconds


def _result_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    processor = type_.dialect_impl(dialect).result_processor(dialect, None)
    if processor is None or not _is_utc_datetime_on_sqlite(type_, dialect):
        return processor

    def utc_datetime_from_sqlite_text(value: Any, _utc: Any = UTC) -> Any:
        if value.__class__ is not str:
            return processor(value)  # None, or whatever SQLAlchemy makes of it
        moment = datetime.fromisoformat(value)  # what SQLAlchemy's own processor does first
        return moment.replace(tzinfo=_utc) if moment.tzinfo is None else moment.astimezone(_utc)

    return utc_datetime_from_sqlite_text


def _sqlalchemy_utc_bind() -> Callable[[Any], Any]:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    return UTCDateTime().dialect_impl(dialect).bind_processor(dialect)  # type: ignore[return-value]


_SQLALCHEMY_UTC_BIND = _sqlalchemy_utc_bind()


def _no_context(function: Callable[..., Any]) -> Callable[[], Any]:
    # SQLAlchemy wraps a column's callable default to take the execution context; none here.
    return lambda: function(None)


def _connection(session: Session) -> tuple[Any, Dialect]:
    """The DBAPI connection of the session in its current transaction or savepoint (beginning it,
    with the engine's BEGIN hooks, if needed), after flushing pending ORM changes."""
    # `_is_clean` is what `flush()` itself asks first; `session.dirty` builds a set over the
    # identity map on every call (1.4 us with 50 objects loaded, against 0.2 us).
    if session.autoflush and not session._is_clean():
        session.flush()
    # Keyed by the innermost transaction: asking the session for its connection inside a new
    # savepoint is what makes SQLAlchemy emit the SAVEPOINT (it does so lazily).
    transaction = session.get_nested_transaction() or session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if cached is None or transaction is None or cached[0] is not transaction:
        connection = session.connection()
        driver_connection = connection.connection.driver_connection  # type: ignore[union-attr]
        transaction = session.get_nested_transaction() or session.get_transaction()
        cached = session.info[_CONNECTION] = (transaction, driver_connection, connection.dialect)
    return cached[1], cached[2]


def _wrapped(sql: str, params: Any, error: Exception, dialect: Dialect) -> Exception:
    return sa_exc.DBAPIError.instance(sql, params, error, dialect.loaded_dbapi.Error,  # type: ignore[attr-defined]
                                      dialect=dialect)


__all__ = ["FastResult", "FastStatement", "in_list_chunks"]

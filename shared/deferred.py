"""Append-only rows written when the transaction commits, one multi-row INSERT per table.

At peak a consumer batch of 500 events writes thousands of rows nobody reads back inside the
same transaction: outbox messages, order timeline steps, ledger lines. Building an ORM object
and flushing it for each one was most of a service's database time; kept as plain dicts in the
session and inserted in one statement per table at commit, they cost a fraction of that.

Only for tables the transaction itself does not query: a SELECT in the same transaction does
not see rows still waiting here (`pending_rows` lets a reader add them itself).

Savepoints are respected: rolling one back drops the rows added since it began, so what is
written always matches what the transaction keeps.

Running totals go the same way (`defer_increment`): the increments a transaction makes to one
row of a tally table are summed and written as one upsert per row at commit, rows in key order
(two instances adding to the same rows lock them in the same order, so they never deadlock).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import Table
from sqlmodel import Session

from shared.db import PlatformSession
from shared.fastsql import FastStatement

_PENDING = "deferred.rows"  # {table: [row, ...]}, tables in the order they were first used
_SAVEPOINT_MARKS = "deferred.savepoint_marks"  # {id(savepoint): {table: rows it had at the start}}
_WRITTEN = "deferred.written"  # {table: rows}: what the commit under way wrote
_TALLY_KEYS: dict[Table, tuple[str, ...]] = {}  # tally table -> its key columns


def defer_insert(session: Session, table: Table, row: dict[str, Any]) -> None:
    """`row` goes into `table` when the session commits (with the columns' Python defaults)."""
    if not isinstance(session, PlatformSession):
        # Only a PlatformSession writes deferred rows at commit; with any other the row would
        # silently never be written.
        raise TypeError(f"deferred rows need a shared.db.PlatformSession (shared.db.transaction), not {type(session).__name__}")
    session.info.setdefault(_PENDING, {}).setdefault(table, []).append(row)


def defer_increment(session: Session, table: Table, key: Mapping[str, Any], counts: Mapping[str, int]) -> None:
    """Adds `counts` to the row of `table` whose key columns hold `key`, at commit (a missing row
    is created from them). Columns of the table not named are left as they are."""
    keys = tuple(key)
    if _TALLY_KEYS.setdefault(table, keys) != keys:
        raise ValueError(f"{table.name} is keyed by {_TALLY_KEYS[table]}, not {keys}")
    defer_insert(session, table, {**key, **counts})


def pending_rows(session: Session, table: Table) -> list[dict[str, Any]]:
    """Rows of `table` this transaction added and has not written yet."""
    return session.info.get(_PENDING, {}).get(table, [])


def take_written_rows(session: Session, table: Table) -> list[dict[str, Any]]:
    """Rows of `table` the last commit wrote, once (for an `after_commit` listener)."""
    return session.info.get(_WRITTEN, {}).pop(table, [])


@event.listens_for(PlatformSession, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested:
        counts = {table: len(rows) for table, rows in session.info.get(_PENDING, {}).items()}
        session.info.setdefault(_SAVEPOINT_MARKS, {})[id(transaction)] = counts


@event.listens_for(PlatformSession, "after_soft_rollback")
def _drop_rolled_back_rows(session: Session, previous_transaction: Any) -> None:
    marks = session.info.get(_SAVEPOINT_MARKS, {}).pop(id(previous_transaction), None)
    if previous_transaction.nested:
        if marks is not None:
            for table, rows in session.info.get(_PENDING, {}).items():
                del rows[marks.get(table, 0):]  # a table first used inside the savepoint: all
    elif previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_SAVEPOINT_MARKS, None)
        session.info.pop(_WRITTEN, None)  # a commit that failed after writing them


@event.listens_for(PlatformSession, "before_commit")
def _insert_pending_rows(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its rows stay pending for the outer commit
    pending = session.info.pop(_PENDING, None)
    session.info.pop(_SAVEPOINT_MARKS, None)
    session.info[_WRITTEN] = pending or {}
    for table, rows in (pending or {}).items():
        if rows and table in _TALLY_KEYS:
            _add_to_tallies(session, table, _TALLY_KEYS[table], rows)
        elif rows:
            _insert_into(table).executemany(session, rows)


def _add_to_tallies(session: Session, table: Table, keys: tuple[str, ...], increments: list[dict[str, Any]]) -> None:
    counters = [column.name for column in table.columns if column.name not in keys]
    key_set = frozenset(keys)
    key_of = itemgetter(*keys) if len(keys) > 1 else lambda row: (row[keys[0]],)  # a tuple either way
    summed: dict[tuple[Any, ...], dict[str, int]] = {}
    for increment in increments:  # one per shipment written at peak: kept to plain lookups
        key = key_of(increment)
        totals = summed.get(key)
        if totals is None:
            totals = summed[key] = dict.fromkeys(counters, 0)
        for name, value in increment.items():
            if name not in key_set:
                totals[name] += value
    rows = [{**dict(zip(keys, key)), **totals} for key, totals in sorted(summed.items()) if any(totals.values())]
    if rows:
        session.execute(_add_to(table, keys, session.get_bind().dialect.name), rows)


@cache
def _add_to(table: Table, keys: tuple[str, ...], dialect: str) -> Any:
    """INSERT, or on the key's conflict add to what the row holds (SQLite and PostgreSQL)."""
    statement = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={column.name: column + statement.excluded[column.name]
              for column in table.columns if column.name not in keys})


@cache
def _insert_into(table: Table) -> FastStatement:
    return FastStatement(insert(table))

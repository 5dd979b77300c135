"""Append-only rows written when the transaction commits, one multi-row INSERT per table.

At peak a consumer batch of 500 events writes thousands of rows nobody reads back inside the
same transaction: outbox messages, order timeline steps, ledger lines. Building an ORM object
and flushing it for each one was most of a service's database time; kept as plain dicts in the
session and inserted in one statement per table at commit, they cost a fraction of that.

Only for tables the transaction itself does not query: a SELECT in the same transaction does
not see rows still waiting here (`pending_rows` lets a reader add them itself).

Savepoints are respected: rolling one back drops the rows added since it began, so what is
written always matches what the transaction keeps.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.schema import Table
from sqlmodel import Session

from shared.db import PlatformSession
from shared.fastsql import FastStatement

_PENDING = "deferred.rows"  # {table: [row, ...]}, tables in the order they were first used
_SAVEPOINT_MARKS = "deferred.savepoint_marks"  # {id(savepoint): {table: rows it had at the start}}
_WRITTEN = "deferred.written"  # {table: rows}: what the commit under way wrote


def defer_insert(session: Session, table: Table, row: dict[str, Any]) -> None:
    """`row` goes into `table` when the session commits (with the columns' Python defaults)."""
    if not isinstance(session, PlatformSession):
        # Only a PlatformSession writes deferred rows at commit; with any other the row would
        # silently never be written.
        raise TypeError(f"deferred rows need a shared.db.PlatformSession (shared.db.transaction), not {type(session).__name__}")
    session.info.setdefault(_PENDING, {}).setdefault(table, []).append(row)


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
        if rows:
            _insert_into(table).executemany(session, rows)


@cache
def _insert_into(table: Table) -> FastStatement:
    return FastStatement(insert(table))

"""Engine and sessions from a database URL: SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import threading
import zlib
import weakref
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.schema import Table
from sqlmodel import Session, SQLModel, create_engine


class PlatformSession(Session):
    """The session class of every transaction this project opens (`transaction` below). The
    outbox's and the deferred rows' listeners are attached to it (shared/messaging/outbox.py,
    shared/deferred.py), so a library's or a test's own plain `Session` is left alone."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _make_sqlite_safe_for_concurrent_writers(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _make_sqlite_safe_for_concurrent_writers(engine: Engine) -> None:
    """WAL lets readers run beside a writer; BEGIN IMMEDIATE takes the write lock at the start of
    every transaction, so two processes never deadlock upgrading a read lock (SQLite would then
    fail at once instead of waiting on busy_timeout)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # A look that writes nothing (`read_only`) takes no write lock: WAL gives it a snapshot
        # beside the writer, so it never queues behind one.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


_READ_ONLY = "peak_read_only"


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: it neither waits for the writer's turn nor takes SQLite's
    write lock (on PostgreSQL it is a plain connection). Its transaction is rolled back."""
    with engine.connect().execution_options(**{_READ_ONLY: True}) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """An ORM session on a `read_only` connection, for HTTP reads."""
    with read_only(engine) as conn, Session(bind=conn) as session:
        yield session


def serialise_per_key(session: Session, namespace: str, key: str) -> None:
    """Transactions naming the same key run one after the other until they commit, where two
    would otherwise each miss what the other is writing (e.g. an event kept for a row that the
    other is creating). SQLite's BEGIN IMMEDIATE already serialises writers; on PostgreSQL a
    transaction-scoped advisory lock per key does it."""
    if session.get_bind().dialect.name != "postgresql":
        return
    lock = (1 << 32) + zlib.crc32(f"{namespace}:{key}".encode())  # above the 32-bit keys of migrations
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})


def create_tables(engine: Engine, tables: Iterable[Table]) -> None:
    """Create only the given tables: every service's models share SQLModel's metadata, but each
    service's database holds its own tables and nothing else."""
    SQLModel.metadata.create_all(engine, tables=list(tables))


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any exception."""
    with _writer_turn(engine), PlatformSession(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# SQLite has one writer at a time. A service's writers (each consumer's batches, the outbox
# relay, HTTP routes) queue here for their turn instead of in SQLite's busy handler, which sleeps
# in growing steps (1, 2, 5 ... 100 ms) and so kept writers waiting long after the lock was free:
# at 1,000 orders/s that was most of a batch's latency. Re-entrant, so a thread that nests units
# of work behaves as before; other processes still meet SQLite's own lock.
_WRITER_TURNS: "weakref.WeakKeyDictionary[Engine, threading.RLock]" = weakref.WeakKeyDictionary()


def _writer_turn(engine: Engine) -> AbstractContextManager[object]:
    turn = _WRITER_TURNS.get(engine)
    if turn is None:
        if engine.dialect.name != "sqlite":
            return nullcontext()
        turn = _WRITER_TURNS.setdefault(engine, threading.RLock())
    return turn


def is_reachable(engine: Engine) -> bool:
    try:
        # Read-only: a readiness probe must not take SQLite's write lock beside the writers.
        with read_only(engine) as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False

"""shared/fastsql.py against the real database of the run (SQLite; PostgreSQL under make
test-postgres): a statement run on the driver's cursor writes and reads exactly what
SQLAlchemy's own execution would, inside the session's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import TypeAdapter
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.inventory.models import InventoryBackorderLine, InventorySku, InventoryStock
from services.orders.models import OrderRecord
from shared.db import transaction
from shared.fastsql import FastStatement

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 11, 0, 0, 1, 250_000, tzinfo=UTC)
TABLES = [InventorySku.__table__, InventoryStock.__table__, InventoryBackorderLine.__table__, OrderRecord.__table__]


@pytest.fixture
def engine(engine_with):
    return engine_with(TABLES)


def order_row(order_id: str, rank: str) -> dict:
    return {"order_id": order_id, "customer_id": "C-1", "order_type": "standard", "priority_class": "high_value",
            "priority_rank": rank, "status": "accepted", "paid_amount": Decimal("1999.90"), "paid_cents": 199990,
            "discount": Decimal("30.00"), "currency": "CNY", "region": "Shanghai", "paid_at": NOW,
            "accepted_at": NOW + timedelta(seconds=1), "status_changed_at": NOW, "content_json": '{"a": 1}',
            "content_hash": "h"}


def sku_row(sku: str, units: int, **extra) -> dict:
    return {"sku": sku, "tier": "profit", "planned_stock": units, "on_hand": units, "available": units,
            "updated_at": NOW, **extra}


def test_an_insert_reads_back_exactly_like_one_sqlalchemy_wrote(engine) -> None:
    with transaction(engine) as session:
        FastStatement(insert(OrderRecord.__table__)).execute(session, order_row("O-FAST", "1"))
        session.execute(insert(OrderRecord.__table__), order_row("O-CORE", "2"))
    with Session(engine) as session:
        by_fast, by_core = session.get(OrderRecord, "O-FAST"), session.get(OrderRecord, "O-CORE")
        assert by_fast.paid_amount == Decimal("1999.90") and by_fast.discount == Decimal("30.00")
        assert by_fast.paid_at == NOW and by_fast.paid_at.tzinfo is not None
        skip = {"order_id", "priority_rank"}
        assert ({k: v for k, v in by_fast.model_dump().items() if k not in skip}
                == {k: v for k, v in by_core.model_dump().items() if k not in skip})


def test_datetimes_are_stored_as_sqlalchemy_stores_them(engine) -> None:
    """Aware datetimes go in as SQLAlchemy's own execution stores them, whatever the offset,
    with or without microseconds, and naive ones are refused."""
    shanghai = timezone(timedelta(hours=8))
    times = {"whole-second": datetime(2026, 11, 11, 8, 0, 0, tzinfo=shanghai),
             "micro": datetime(2026, 11, 11, 0, 0, 1, 7, tzinfo=UTC),
             "west": datetime(2026, 6, 18, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
             # as the contracts decode it: pydantic's own UTC tzinfo, not datetime.UTC
             "decoded": TypeAdapter(datetime).validate_python("2026-11-11T00:00:00.5Z"),
             "year-one": datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)}
    with transaction(engine) as session:
        for n, (name, at) in enumerate(times.items()):
            row = {**order_row(f"O-FAST-{name}", f"{n}a"), "paid_at": at, "accepted_at": at}
            FastStatement(insert(OrderRecord.__table__)).execute(session, row)
            session.execute(insert(OrderRecord.__table__),
                            {**row, "order_id": f"O-CORE-{name}", "priority_rank": f"{n}b"})
    with Session(engine) as session:
        stored = dict(session.execute(text("SELECT order_id, paid_at FROM order_record")).all())
        for name, at in times.items():
            assert stored[f"O-FAST-{name}"] == stored[f"O-CORE-{name}"]
            assert session.get(OrderRecord, f"O-FAST-{name}").paid_at == at
        # and a fast read gives what the ORM gives: the same instant, in UTC
        fast_read = FastStatement(select(OrderRecord.__table__.c.paid_at).where(
            OrderRecord.__table__.c.order_id == bindparam("oid")))
        for name, at in times.items():
            read = fast_read.execute(session, {"oid": f"O-CORE-{name}"}).scalar_one()
            assert read == at and read.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone"), transaction(engine) as session:
        naive = {**order_row("O-NAIVE", "1"), "paid_at": datetime(2026, 11, 11)}
        FastStatement(insert(OrderRecord.__table__)).execute(session, naive)


def test_column_defaults_are_filled_and_rows_of_different_shapes_group(engine) -> None:
    with transaction(engine) as session:
        FastStatement(insert(InventorySku.__table__)).executemany(session, [
            sku_row("SKU-A", 10), sku_row("SKU-B", 5, mode="presale", name="Tea")])
    with Session(engine) as session:
        a, b = session.get(InventorySku, "SKU-A"), session.get(InventorySku, "SKU-B")
        assert (a.mode, a.reserved, a.name) == ("in_stock", 0, "")  # the columns' defaults
        assert (b.mode, b.name) == ("presale", "Tea")


def test_update_returning_select_with_an_in_list_and_rowcount(engine) -> None:
    table = InventorySku.__table__
    reserve = FastStatement(update(table).where(table.c.sku == bindparam("sku_id"), table.c.available >= bindparam("units"))
                   .values(available=table.c.available - bindparam("units"),
                           reserved=table.c.reserved + bindparam("units")).returning(*table.c))
    load = FastStatement(select(table.c.sku, table.c.available, table.c.updated_at)
                .where(table.c.sku.in_(bindparam("skus", expanding=True))).order_by(table.c.sku))
    with transaction(engine) as session:
        FastStatement(insert(table)).executemany(session, [sku_row("SKU-A", 10), sku_row("SKU-B", 5), sku_row("SKU-C", 1)])
    with transaction(engine) as session:
        row = reserve.execute(session, {"sku_id": "SKU-A", "units": 4}).one()
        assert (row.sku, row.available, row.reserved) == ("SKU-A", 6, 4)
        assert row.updated_at == NOW  # result conversions applied: an aware datetime again
        refused = reserve.execute(session, {"sku_id": "SKU-B", "units": 6})
        assert refused.one_or_none() is None and refused.rowcount == 0
        assert [(r.sku, r.available) for r in load.execute(session, {"skus": ["SKU-A", "SKU-B"]}).all()] == [
            ("SKU-A", 6), ("SKU-B", 5)]
        assert [r.sku for r in load.execute(session, {"skus": ["SKU-C"]}).all()] == ["SKU-C"]  # another length
    with Session(engine) as session:
        assert session.get(InventorySku, "SKU-A").available == 6


def test_driver_errors_are_sqlalchemys_and_savepoints_undo_fast_writes(engine) -> None:
    add = FastStatement(insert(OrderRecord.__table__))
    with transaction(engine) as session:
        add.execute(session, order_row("O-1", "1"))
        with pytest.raises(IntegrityError):
            with session.begin_nested():
                add.execute(session, order_row("O-2", "2"))
                add.execute(session, order_row("O-1", "3"))  # same order id: refused
        add.execute(session, order_row("O-3", "4"))
    with Session(engine) as session:
        assert {o for (o,) in session.execute(select(OrderRecord.__table__.c.order_id))} == {"O-1", "O-3"}


def test_a_fast_read_sees_what_the_session_added_and_a_rollback_drops_fast_writes(engine) -> None:
    status = FastStatement(select(OrderRecord.__table__.c.status).where(OrderRecord.__table__.c.order_id == bindparam("oid")))
    with transaction(engine) as session:
        session.add(OrderRecord(**order_row("O-ORM", "1")))  # pending, not flushed yet
        assert status.execute(session, {"oid": "O-ORM"}).scalar_one() == "accepted"
    with pytest.raises(RuntimeError):
        with transaction(engine) as session:
            FastStatement(insert(OrderRecord.__table__)).execute(session, order_row("O-GONE", "2"))
            raise RuntimeError("the handler failed")
    with Session(engine) as session:
        assert status.execute(session, {"oid": "O-GONE"}).first() is None
        assert status.execute(session, {"oid": "O-ORM"}).scalar_one() == "accepted"


def test_an_order_short_on_one_sku_reserves_none_of_the_others(engine) -> None:
    """The inventory's all-or-nothing reservation (R7) runs its UPDATEs fast inside a savepoint."""
    from services.inventory import store

    # Each sku in one warehouse: its row there, and the sku's totals (issue 34).
    in_main = [{k: v for k, v in row.items() if k not in ("tier", "updated_at")} | {"warehouse": "main"}
               for row in (sku_row("SKU-A", 10), sku_row("SKU-B", 1))]
    with transaction(engine) as session:
        FastStatement(insert(InventorySku.__table__)).executemany(session, [sku_row("SKU-A", 10), sku_row("SKU-B", 1)])
        FastStatement(insert(InventoryStock.__table__)).executemany(session, in_main)
    with transaction(engine) as session:
        assert store.load_skus(session, ["SKU-A"])["SKU-A"].available == 10  # before the savepoint
        short, fresh = store.try_reserve(session, [("main", "SKU-A", 3), ("main", "SKU-B", 2)])
        assert short == ("main", "SKU-B") and (fresh.totals, fresh.here) == ({}, {})
        short, fresh = store.try_reserve(session, [("main", "SKU-A", 3), ("main", "SKU-B", 1)])
        assert short is None and fresh.totals["SKU-A"].available == 7 and fresh.totals["SKU-B"].available == 0
        assert fresh.here["SKU-A"]["main"].available == 7
    with Session(engine) as session:
        assert session.get(InventorySku, "SKU-A").reserved == 3
        assert session.get(InventoryStock, ("SKU-A", "main")).reserved == 3
        assert session.get(InventoryStock, ("SKU-B", "main")).reserved == 1


def test_the_last_converted_time_is_reused_only_for_that_very_value() -> None:
    from shared.fastsql import _utc_datetime_to_sqlite_text as to_text

    a = datetime(2026, 11, 11, 0, 0, 1, 5, tzinfo=UTC)
    b = a + timedelta(microseconds=1)
    east = a.astimezone(timezone(timedelta(hours=8)))  # the same instant, another object
    assert [to_text(v) for v in (a, a, b, a, east, east, None, a)] == [
        "2026-11-11 00:00:01.000005", "2026-11-11 00:00:01.000005", "2026-11-11 00:00:01.000006",
        "2026-11-11 00:00:01.000005", "2026-11-11 00:00:01.000005", "2026-11-11 00:00:01.000005", None,
        "2026-11-11 00:00:01.000005"]
    with pytest.raises(ValueError, match="timezone"):
        to_text(a.replace(tzinfo=None))  # naive is refused, even right after the same moment aware


def test_in_lists_come_in_chunks_padded_to_a_power_of_two_with_every_value_kept() -> None:
    from shared.fastsql import in_list_chunks

    assert list(in_list_chunks([1, 2, 3, 4, 5], size=4)) == [[1, 2, 3, 4], [5]]
    assert list(in_list_chunks(["a", "b", "c", "d", "e"])) == [["a", "b", "c", "d", "e", "e", "e", "e"]]
    assert list(in_list_chunks([])) == []

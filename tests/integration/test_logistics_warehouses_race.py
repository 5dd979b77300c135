"""Two parts of one order handed over at the same moment in two transactions (two docks, two
instances sharing a PostgreSQL database under TEST_DATABASE=postgres; SQLite serialises writers
anyway): the second waits for the first, so exactly one hand-over sees the order complete and
the order counts as shipped once, at the later hand-over."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.logistics import domain, parts, sla_store, store
from services.logistics.models import (Shipment, SlaPaidHour, SlaShippedHour, SlaWarehousePaidHour,
                                       SlaWarehouseShippedHour)
from shared.db import create_tables, make_engine, transaction
from shared.events import OrderLine, ShipmentPart, SkuQuantity

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 11, tzinfo=UTC)
TABLES = (Shipment, SlaPaidHour, SlaShippedHour, SlaWarehousePaidHour, SlaWarehouseShippedHour)


@pytest.fixture
def engine(tmp_path, databases):
    url = databases("t_parts_race") if databases else f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    create_tables(engine, [t.__table__ for t in TABLES])
    yield engine
    engine.dispose()


def test_two_parts_handed_over_at_once_complete_the_order_exactly_once(engine) -> None:
    lines = [OrderLine(sku="A", quantity=2, unit_price="1.00")]
    cut = parts.cut("O1", lines, [ShipmentPart(warehouse=w, lines=[SkuQuantity(sku="A", quantity=1)])
                                  for w in ("east", "north")])
    with transaction(engine) as session:
        for part in cut:
            store.add_shipment(session, domain.new_shipment(
                shipment_id=part.shipment_id, order_id="O1", order_type="standard", priority_class="standard",
                priority_rank="r1", lines=part.lines, region="Shanghai", paid_at=BASE, now=BASE,
                warehouse=part.warehouse, order_parts=2), None)
            shipment = store.shipment(session, part.shipment_id)
            store.save_shipment(session, shipment, domain.pack(shipment, picker_id="P", now=BASE))
    complete: dict[str, bool] = {}
    started = threading.Event()

    def hand_over(part: parts.Part, at: datetime, hold_s: float) -> None:
        with transaction(engine) as session:
            shipment = store.shipment(session, part.shipment_id)
            store.save_shipment(session, shipment, domain.hand_over(shipment, carrier="SF",
                                                                    tracking_number=part.warehouse, now=at))
            session.flush()
            complete[part.warehouse] = not store.parts_still_to_ship(session, "O1", part.shipment_id)
            started.set()
            time.sleep(hold_s)  # still uncommitted while the other part is handed over

    first = threading.Thread(target=hand_over, args=(cut[0], BASE + timedelta(hours=10), 1.0))
    first.start()
    started.wait(10)
    hand_over(cut[1], BASE + timedelta(hours=30), 0)
    first.join()
    assert complete == {"east": False, "north": True}
    with transaction(engine) as session:
        [hour] = sla_store.paid_hours(session)
        assert (hour.paid, hour.shipped, hour.shipped_within_24h, hour.shipped_within_48h) == (1, 1, 0, 1)
        assert sla_store.dispatched_per_hour(session, BASE) == {BASE + timedelta(hours=30): 1}

"""Wave claiming and carrier capacity are decided by the database (real SQLite), not by the
Python that read the rows: a picker working from a stale read gets nothing already taken."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from services.logistics import store
from services.logistics.models import Shipment
from shared.db import make_engine, transaction
from shared.migrations import upgrade

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'logistics.sqlite'}")
    upgrade(engine, "logistics")  # the schema the service runs on: its Alembic history
    with transaction(engine) as session:
        for i in range(6):
            paid = NOW - timedelta(hours=1, minutes=i)
            session.add(Shipment(
                shipment_id=f"S-{i}", order_id=f"O-{i}", order_type="standard", priority_class="standard",
                class_order=2, priority_rank=f"2-{i}", region="Shanghai", lines_json=json.dumps([]),
                weight_kg=Decimal("1.00"), volume_l=Decimal("1.00"), paid_at=paid,
                deadline_24h=paid + timedelta(hours=24), deadline_48h=paid + timedelta(hours=48),
                created_at=NOW, status="queued"))
    yield engine
    engine.dispose()


def test_a_claim_from_a_stale_read_gets_only_rows_still_unclaimed(engine) -> None:
    lease = NOW + timedelta(minutes=30)
    with transaction(engine) as session:
        stale_ids = [s.shipment_id for s in store.queue(session, NOW, 4)]  # what a slower picker saw
    with transaction(engine) as session:
        first = store.claim(session, stale_ids[:3], wave_id="W-1", picker_id="P-1", now=NOW, lease_until=lease)
    with transaction(engine) as session:
        second = store.claim(session, stale_ids, wave_id="W-2", picker_id="P-2", now=NOW, lease_until=lease)
    assert first == stale_ids[:3]
    assert second == stale_ids[3:]


def test_a_wave_skips_rows_taken_meanwhile_and_fills_up_from_the_rest(engine) -> None:
    lease = NOW + timedelta(minutes=30)
    with transaction(engine) as session:
        taken = store.claim_wave(session, wave_id="W-1", picker_id="P-1", size=2, now=NOW, lease_until=lease)
        rest = store.claim_wave(session, wave_id="W-2", picker_id="P-2", size=10, now=NOW, lease_until=lease)
    assert len(taken) == 2 and len(rest) == 4 and not set(taken) & set(rest)
    # Oldest deadline first: S-5 was paid earliest.
    assert taken == ["S-5", "S-4"]
    with transaction(engine) as session:
        later = NOW + timedelta(minutes=31)
        again = store.claim_wave(session, wave_id="W-3", picker_id="P-3", size=10, now=later,
                                 lease_until=later + timedelta(minutes=30))
    assert sorted(again) == sorted(taken + rest)  # every lease ran out


def test_daily_carrier_capacity_cannot_be_overbooked(engine) -> None:
    day = date(2026, 11, 11)
    results = []
    for _ in range(5):
        with transaction(engine) as session:
            results.append(store.take_capacity(session, "ZTO", day, capacity=3))
    assert results == [True, True, True, False, False]
    with transaction(engine) as session:
        assert store.used_capacity(session, day) == {"ZTO": 3}
        assert store.take_capacity(session, "ZTO", day + timedelta(days=1), capacity=3) is True

"""Carrier choice by region, weight and volume, with daily capacity (R15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.logistics.carriers import (
    CarrierRefused,
    CarrierTable,
    CarrierTableInvalid,
    Parcel,
    parcel_of,
    warehouse_day,
)
from services.logistics.settings import DEFAULT_CARRIERS_FILE

TABLE = CarrierTable.from_dict(json.loads(DEFAULT_CARRIERS_FILE.read_text()))


def parcel(region: str = "Shanghai", kg: str = "1.00", litres: str = "2.00") -> Parcel:
    return Parcel(region, Decimal(kg), Decimal(litres))


def test_the_built_in_table_knows_sf_zto_yto_and_jd() -> None:
    assert set(TABLE.carriers) == {"SF", "ZTO", "YTO", "JD"}


@pytest.mark.parametrize("shape, carrier", [
    (parcel("Shanghai", "1.00"), "ZTO"),        # east China, light
    (parcel("Guangdong", "1.00"), "SF"),        # elsewhere: default rule
    (parcel("Xinjiang", "1.00"), "SF"),         # remote
    (parcel("Shanghai", "25.00"), "JD"),        # bulky
    (parcel("Shanghai", "2.00", "120.00"), "JD"),  # large volume
])
def test_the_rules_table_suggests_by_region_weight_and_volume(shape: Parcel, carrier: str) -> None:
    assert TABLE.suggest(shape, {}).carrier == carrier


def test_a_full_carrier_is_passed_over_for_the_next_one() -> None:
    used = {"ZTO": TABLE.carriers["ZTO"].daily_capacity}
    suggestion = TABLE.suggest(parcel(), used)
    assert suggestion.carrier == "YTO"
    assert suggestion.passed_over[0][0] == "ZTO" and "full" in suggestion.passed_over[0][1]


def test_a_carrier_not_serving_the_region_is_passed_over() -> None:
    used = {"SF": TABLE.carriers["SF"].daily_capacity, "ZTO": TABLE.carriers["ZTO"].daily_capacity}
    suggestion = TABLE.suggest(parcel("Yunnan"), used)  # default rule: SF, ZTO, YTO, JD; YTO does not serve Yunnan
    assert suggestion.carrier == "JD"
    assert [c for c, _ in suggestion.passed_over] == ["SF", "ZTO", "YTO"]


def test_when_the_rules_carriers_are_all_full_any_other_carrier_with_room_is_suggested() -> None:
    used = {"SF": TABLE.carriers["SF"].daily_capacity, "JD": TABLE.carriers["JD"].daily_capacity}
    suggestion = TABLE.suggest(parcel("Xinjiang"), used)  # remote rule: SF, JD; YTO does not serve Xinjiang
    assert suggestion.carrier == "ZTO" and "any carrier with room" in suggestion.rule


def test_no_suggestion_when_every_carrier_is_full() -> None:
    used = {code: c.daily_capacity for code, c in TABLE.carriers.items()}
    assert TABLE.suggest(parcel(), used).carrier is None


def test_staff_may_override_but_not_with_a_full_or_unsuitable_carrier() -> None:
    TABLE.check_choice("SF", parcel(), {})
    with pytest.raises(CarrierRefused, match="full"):
        TABLE.check_choice("SF", parcel(), {"SF": TABLE.carriers["SF"].daily_capacity})
    with pytest.raises(CarrierRefused, match="30.00 kg"):
        TABLE.check_choice("ZTO", parcel(kg="31.00"), {})
    with pytest.raises(CarrierRefused, match="unknown carrier"):
        TABLE.check_choice("EMS", parcel(), {})


@given(st.dictionaries(st.sampled_from(["SF", "ZTO", "YTO", "JD"]), st.integers(0, 10_000)),
       st.sampled_from(["Shanghai", "Beijing", "Xinjiang", "Yunnan"]),
       st.decimals(min_value=0, max_value=300, places=2), st.decimals(min_value=0, max_value=1200, places=2))
def test_a_suggested_carrier_always_has_capacity_left_and_can_carry_the_parcel(used, region, kg, litres) -> None:
    shape = Parcel(region, kg, litres)
    suggestion = TABLE.suggest(shape, used)
    if suggestion.carrier is not None:
        carrier = TABLE.carriers[suggestion.carrier]
        assert used.get(carrier.code, 0) < carrier.daily_capacity
        assert carrier.why_not(shape) is None
    else:
        assert all(TABLE.why_not(code, shape, used) for code in TABLE.carriers)  # nobody could


def test_capacity_booked_for_the_peak_overrides_the_table() -> None:
    table = CarrierTable.from_dict(json.loads(DEFAULT_CARRIERS_FILE.read_text()), {"SF": 12000})
    assert table.carriers["SF"].daily_capacity == 12000
    with pytest.raises(CarrierTableInvalid, match="unknown carrier 'EMS'"):
        CarrierTable.from_dict(json.loads(DEFAULT_CARRIERS_FILE.read_text()), {"EMS": 5})


def test_a_broken_table_is_refused_with_the_entry_named() -> None:
    with pytest.raises(CarrierTableInvalid, match=r"rules.0.carriers: unknown carrier\(s\) DHL"):
        CarrierTable.from_dict({"carriers": [{"code": "SF", "daily_capacity": 1}], "rules": [{"carriers": ["DHL"]}]})
    with pytest.raises(CarrierTableInvalid, match="decimal strings"):
        CarrierTable.from_dict({"carriers": [{"code": "SF", "daily_capacity": 1, "max_weight_kg": 2.5}]})


def test_parcel_weight_and_volume_add_up_over_lines_and_units() -> None:
    shape = parcel_of("Shanghai", [(2, Decimal("0.40"), Decimal("1.50")), (1, None, None), (3, Decimal("1.00"), None)])
    assert (shape.weight_kg, shape.volume_l) == (Decimal("3.80"), Decimal("3.00"))


def test_capacity_counts_per_warehouse_local_day() -> None:
    # 17:00 UTC is 01:00 the next day in China (UTC+8).
    assert warehouse_day(datetime(2026, 11, 10, 17, 0, tzinfo=UTC), 8).isoformat() == "2026-11-11"
    assert warehouse_day(datetime(2026, 11, 10, 15, 59, tzinfo=UTC), 8).isoformat() == "2026-11-10"

"""Stock for the business (R12), the pure rules: sell rate, cover, slots, when a snapshot is due,
CSV cells that cannot run as formulas."""

from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.stock_cover import (
    EPOCH,
    cover_hours,
    csv_text,
    sell_rate_per_hour,
    slot_start,
    snapshot_due,
)

HOUR = timedelta(hours=1)
TWO_H = timedelta(hours=2)
T = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)


# --- sell rate ---------------------------------------------------------------------------------

def test_sell_rate_is_net_units_per_hour_of_the_window() -> None:
    assert sell_rate_per_hour(30, HOUR) == 30.0
    assert sell_rate_per_hour(30, TWO_H) == 15.0
    assert sell_rate_per_hour(1, timedelta(minutes=30)) == 2.0
    assert sell_rate_per_hour(1, timedelta(hours=3)) == 0.3333


def test_a_window_that_gave_back_more_than_it_took_sells_nothing() -> None:
    assert sell_rate_per_hour(0, HOUR) == 0.0
    assert sell_rate_per_hour(-5, HOUR) == 0.0


@pytest.mark.parametrize("window", [timedelta(0), -HOUR])
def test_the_window_must_be_longer_than_zero(window: timedelta) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        sell_rate_per_hour(3, window)


# --- cover -------------------------------------------------------------------------------------

def test_cover_is_available_over_the_rate() -> None:
    assert cover_hours(100, 10.0) == 10.0
    assert cover_hours(10, 4.0) == 2.5
    assert cover_hours(1, 3.0) == 0.33
    assert cover_hours(1, 0.0001) == 10000.0


def test_nothing_selling_has_no_cover_figure() -> None:
    assert cover_hours(100, 0.0) is None
    assert cover_hours(0, 0.0) is None
    assert cover_hours(100, -1.0) is None


def test_nothing_available_while_selling_is_zero_hours() -> None:
    assert cover_hours(0, 5.0) == 0.0
    assert cover_hours(-3, 5.0) == 0.0  # never a negative cover


# --- slots -------------------------------------------------------------------------------------

def test_slots_start_at_even_hours_utc() -> None:
    assert slot_start(T, TWO_H) == T
    assert slot_start(T + timedelta(hours=1, minutes=59, seconds=59), TWO_H) == T
    assert slot_start(T + TWO_H, TWO_H) == T + TWO_H
    assert slot_start(T - timedelta(microseconds=1), TWO_H) == T - TWO_H
    assert slot_start(EPOCH, TWO_H) == EPOCH


def test_slots_are_the_same_in_any_time_zone() -> None:
    from zoneinfo import ZoneInfo

    shanghai = (T + timedelta(minutes=90)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert slot_start(shanghai, TWO_H) == T


def test_the_period_must_be_longer_than_zero() -> None:
    with pytest.raises(ValueError):
        slot_start(T, timedelta(0))


# --- when a snapshot is due --------------------------------------------------------------------

def test_due_exactly_one_period_after_the_last_slot() -> None:
    assert snapshot_due(T + TWO_H, last_slot=T, first_record=None, period=TWO_H) == T + TWO_H
    assert snapshot_due(T + TWO_H - timedelta(seconds=1), last_slot=T, first_record=None, period=TWO_H) is None
    assert snapshot_due(T, last_slot=T, first_record=None, period=TWO_H) is None


def test_a_late_check_snapshots_the_slot_it_falls_in() -> None:
    # The service was down over 02:00 and 04:00: at 05:10 it takes the 04:00 slot, once.
    assert snapshot_due(T + timedelta(hours=5, minutes=10), last_slot=T, first_record=None,
                        period=TWO_H) == T + timedelta(hours=4)


def test_the_first_snapshot_comes_a_period_after_stock_was_first_recorded() -> None:
    first = T + timedelta(minutes=30)
    assert snapshot_due(first + timedelta(hours=1, minutes=59, seconds=59), last_slot=None, first_record=first,
                        period=TWO_H) is None
    assert snapshot_due(first + TWO_H, last_slot=None, first_record=first, period=TWO_H) == T + TWO_H


def test_the_last_snapshot_counts_rather_than_the_first_record() -> None:
    assert snapshot_due(T + TWO_H, last_slot=T + HOUR, first_record=T, period=TWO_H) is None


def test_nothing_recorded_nothing_to_snapshot() -> None:
    assert snapshot_due(T, last_slot=None, first_record=None, period=TWO_H) is None


def test_a_clock_set_back_takes_nothing() -> None:
    assert snapshot_due(T - TWO_H, last_slot=T, first_record=None, period=TWO_H) is None


# --- CSV ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+33", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_cells_are_disarmed(text: str) -> None:
    assert csv_text(text) == "'" + text


@pytest.mark.parametrize("text", ["SKU-1", "Green tea 250g", "", "a=b", " =1", "'quoted"])
def test_plain_cells_stay_as_they_are(text: str) -> None:
    assert csv_text(text) == text


def test_the_rate_counts_reservations_net_of_releases_and_not_dispatches() -> None:
    from services.inventory.stock_cover import SELLING_CAUSES

    assert set(SELLING_CAUSES) == {"reservation", "release"}

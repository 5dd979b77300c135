"""The simulator's planner estimate of the orders that wait for stock (tools/simulate/stock_estimate.py),
which the plan hands to logistics' forecast (issue 32 point 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tools.simulate import model
from tools.simulate.stock_estimate import NEVER_H, order_waits, stock_waits

START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
LEADS = {"traffic_driver": 36.0, "profit": 24.0, "hot": 72.0}


def sku(code: str, tier: str) -> model.Sku:
    return model.Sku(code, code, tier, Decimal("10.00"), Decimal("1.00"), Decimal("1.00"))


def row(code: str, tier: str, planned: int, on_hand: int) -> model.CatalogRow:
    return model.CatalogRow(sku(code, tier), planned, planned, on_hand)


def order(n: int, hours: float, *lines: tuple[str, int]) -> model.Order:
    return model.Order(f"O-{n}", f"C-{n}", "standard", "standard",
                       [model.Line(code, qty, Decimal("10.00")) for code, qty in lines],
                       START + timedelta(hours=hours), "Zhejiang", False)


def test_orders_past_the_stock_wait_for_the_replenishment_asked_below_20_percent() -> None:
    # 10 on hand, planned 10: the 9th unit sold leaves 1 < 2 (20%), a request for 9 goes out at
    # hour 8, delivered at 8 + 36 = 44; orders 11-15 (hours 10-14) wait for it.
    orders = [order(i, i, ("TEA", 1)) for i in range(15)]
    waits = order_waits(orders, [row("TEA", "traffic_driver", 10, 10)], LEADS, 0.5)
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == [34.0, 33.0, 32.0, 31.0, 30.0]


def test_at_20_percent_exactly_nothing_is_asked_yet() -> None:
    # planned 10, 8 sold by hour 7: 2 left is not below 2; the unit sold at hour 50 leaves 1 and
    # asks (9, due at 86), so the 2 wanted at hour 60 wait 26 hours (asked at 2 left, they would
    # have been in stock).
    orders = [order(i, i, ("TEA", 1)) for i in range(8)] + [order(50, 50, ("TEA", 1)), order(60, 60, ("TEA", 2))]
    waits = order_waits(orders, [row("TEA", "traffic_driver", 10, 10)], LEADS, 0.5)
    assert waits == [0.0] * 9 + [26.0]


def test_a_profit_item_that_sells_out_asks_at_once_at_half_the_lead_time() -> None:
    orders = [order(1, 0, ("KETTLE", 5)), order(2, 1, ("KETTLE", 1))]
    waits = order_waits(orders, [row("KETTLE", "profit", 100, 5)], LEADS, 0.5)
    # hour 0: 5 sold, 0 left: urgent request (100 - 0) due at hour 12; order 2 waits 11 hours
    assert waits == [0.0, 11.0]


def test_an_order_waits_as_long_as_its_slowest_line_and_deliveries_go_first_come_first_served() -> None:
    catalog = [row("TEA", "traffic_driver", 10, 1), row("PHONE", "hot", 4, 0)]
    orders = [order(1, 0, ("TEA", 1), ("PHONE", 1)), order(2, 1, ("PHONE", 1))]
    waits = order_waits(orders, catalog, LEADS, 0.5)
    # PHONE: nothing on hand, asked at hour 0 (0 < 1), 4 units at hour 72 fill both
    assert waits == [72.0, 71.0]


def test_a_delivery_too_small_for_the_waiting_asks_again_and_what_never_comes_never_ships() -> None:
    catalog = [row("SOCKS", "traffic_driver", 2, 0)]
    orders = [order(i, 0, ("SOCKS", 1)) for i in range(5)]
    waits = order_waits(orders, catalog, LEADS, 0.5)
    # 2 at hour 36, 2 more at 72, 2 more at 108 (the last unit of it is left over)
    assert waits == [36.0, 36.0, 72.0, 72.0, 108.0]
    assert order_waits([order(1, 0, ("GONE", 1), ("TEA", 1))], [row("GONE", "hot", 0, 0),
                                                                 row("TEA", "profit", 5, 5)], LEADS, 0.5) == [NEVER_H]
    assert order_waits([order(1, 0, ("UNLISTED", 1))], [], LEADS, 0.5) == [0.0]


def test_the_shares_count_from_the_first_hour_anything_waits_and_never_add_past_100() -> None:
    orders = [order(i, i // 10, ("TEA", 1)) for i in range(30)]  # 10 an hour in hours 0-2
    waits = [0.0] * 10 + [0.0] * 5 + [3.5] * 2 + [30.0] * 3 + [0.5] * 10
    rows = stock_waits(orders, waits, START)
    # from hour 1: 20 orders; 10 wait 1 hour, 2 wait 4, 3 wait 30
    assert rows == [{"share_pct": "50.00", "hours": 1, "from_hour": 1}, {"share_pct": "10.00", "hours": 4, "from_hour": 1},
                    {"share_pct": "15.00", "hours": 30, "from_hour": 1}]
    thirds = stock_waits([order(i, 0, ("TEA", 1)) for i in range(3)], [1.0, 2.0, 3.0], START)
    assert [r["share_pct"] for r in thirds] == ["33.33"] * 3  # rounded down
    assert stock_waits(orders, [0.0] * 30, START) == []


def test_many_different_waits_are_grouped_coarser() -> None:
    orders = [order(i, 0, ("TEA", 1)) for i in range(200)]
    rows = stock_waits(orders, [float(i + 1) for i in range(200)], START)
    assert len(rows) <= 40 and all(r["hours"] % 8 == 0 for r in rows)
    assert sum(Decimal(r["share_pct"]) for r in rows) == Decimal("100.00")

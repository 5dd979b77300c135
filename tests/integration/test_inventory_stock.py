"""Inventory acceptance through the real broker and a real SQLite database (R7-R12)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.kafka import Message
from tests.support.waiting import eventually as wait_until
from tests.support.world import World

pytestmark = pytest.mark.integration

PAID_AT = datetime(2026, 11, 11, 0, 0, 3, tzinfo=UTC)
CLASS_DIGIT = {"presale": 0, "high_value": 1, "standard": 2}


def new_id(prefix: str = "O") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rank_for(priority_class: str, paid_at: datetime, order_id: str) -> str:
    """The orders service's rank format: class digit, payment time, order id."""
    return f"{CLASS_DIGIT[priority_class]}-{int(paid_at.timestamp() * 1_000_000):020d}-{order_id}"


def accepted_order(order_id: str, lines: list[tuple[str, int]] | list[tuple[str, int, bool]], *,
                   priority_class: str = "standard", paid_at: datetime = PAID_AT, rank: str | None = None) -> dict:
    order_lines = []
    for line in lines:
        sku, quantity, gift = (*line, False) if len(line) == 2 else line
        order_lines.append({"sku": sku, "quantity": quantity, "unit_price": "0.00" if gift else "10.00", "gift": gift})
    total = sum(10 * line[1] for line in lines if not (len(line) == 3 and line[2]))
    return {
        "order_id": order_id, "customer_id": "C-9",
        "order_type": "presale" if priority_class == "presale" else "standard",
        "priority_class": priority_class, "priority_rank": rank or rank_for(priority_class, paid_at, order_id),
        "lines": order_lines, "discount": "0.00", "paid_amount": f"{total}.00", "paid_at": paid_at.isoformat(),
        "region": "Shanghai", "currency": "CNY", "accepted_at": (paid_at + timedelta(seconds=1)).isoformat(),
        **({"deposit": "10.00"} if priority_class == "presale" else {}),
    }


def write_catalog(directory: Path, rows: list[tuple[str, str, int, int]]) -> Path:
    """rows: (sku, tier, planned_stock, on_hand)."""
    path = directory / f"catalog-{uuid.uuid4().hex[:6]}.csv"
    path.write_text("sku,name,tier,planned_stock,on_hand\n"
                    + "".join(f"{sku},{sku} name,{tier},{planned},{on_hand}\n" for sku, tier, planned, on_hand in rows))
    return path


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog"), [("CAT-TEA", "traffic_driver", 100, 100),
                                                              ("CAT-CUP", "profit", 50, 50)])


@pytest.fixture(scope="module")
def inventory(module_world: World, catalog_path: Path):
    """One inventory process for this module (start-ups are the slow part); each test works on
    skus of its own, so tests do not see each other's stock."""
    return module_world.start("inventory", settings={"CATALOG_PATH": str(catalog_path), "CLOCK": "settable",
                                                     "REPLENISHMENT_EXPIRY_HOURS": "72"})


@pytest.fixture
def world(module_world: World) -> World:
    return module_world


def new_skus(inventory, *rows: tuple[str, str, int, int]) -> list[str]:
    """Creates skus (name, tier, planned_stock, on_hand) under names unique to the calling test."""
    suffix = uuid.uuid4().hex[:6].upper()
    created = []
    with inventory.client("admin") as http:  # catalogue edits are admin-only (docs/security.md)
        for name, tier, planned, on_hand in rows:
            sku = f"{name}-{suffix}"
            response = http.put(f"/skus/{sku}", json={"tier": tier, "planned_stock": planned, "on_hand": on_hand})
            assert response.status_code == 200, response.text
            created.append(sku)
    return created


def publish_order(world: World, data: dict) -> None:
    world.publish("orders.events", "order.accepted", data, key=data["order_id"])


def outcome_of(order_id: str):
    return lambda m: m.type in ("stock.reserved", "stock.backordered") and m.data["order_id"] == order_id


def stock(service, sku: str) -> dict:
    with service.client("warehouse") as http:
        response = http.get(f"/stock/{sku}")
    assert response.status_code == 200, response.text
    return response.json()


def requests_for(messages: list[Message], sku: str) -> list[Message]:
    return [m for m in messages if m.type == "replenishment.requested" and m.data["sku"] == sku]


def reserved_for(orders: set[str]):
    return lambda m: m.type == "stock.reserved" and m.data["order_id"] in orders


def deliver(world: World, sku: str, quantity: int) -> None:
    world.publish("supplier.deliveries", "supplier.delivery",
                  {"delivery_id": new_id("D"), "sku": sku, "quantity": quantity, "delivered_at": PAID_AT.isoformat()},
                  key=sku)


# ---------------------------------------------------------------------------------------------


def test_the_catalog_file_is_loaded_at_start_up_with_its_opening_stock_in_the_ledger(inventory) -> None:
    with inventory.client("support") as http:
        ledger = http.get("/ledger/CAT-TEA").json()
    assert (ledger["on_hand"], ledger["reserved"], ledger["available"], ledger["consistent"]) == (100, 0, 100, True)
    assert [(e["cause"], e["on_hand_delta"], e["reference"]) for e in ledger["entries"]] == [
        ("initial_stock", 100, "catalog")]
    assert stock(inventory, "CAT-CUP")["tier"] == "profit"


def test_an_accepted_order_reserves_every_line_including_gifts_and_tells_logistics_what_to_ship(
        world: World, inventory) -> None:
    tea, cup = new_skus(inventory, ("TEA", "traffic_driver", 100, 100), ("CUP", "profit", 50, 50))
    reservations = world.reader("inventory.reservations")
    order_id = new_id()

    publish_order(world, accepted_order(order_id, [(tea, 2), (cup, 1, True)], priority_class="high_value"))

    [msg] = reservations.wait_for(outcome_of(order_id))
    assert msg.type == "stock.reserved" and msg.key == order_id
    assert msg.data["priority_class"] == "high_value"
    assert msg.data["priority_rank"].startswith("1-")
    assert msg.data["region"] == "Shanghai"
    assert [(line["sku"], line["quantity"], line["gift"]) for line in msg.data["lines"]] == [
        (tea, 2, False), (cup, 1, True)]
    tea_figures, cup_figures = stock(inventory, tea), stock(inventory, cup)
    assert (tea_figures["on_hand"], tea_figures["reserved"], tea_figures["available"]) == (100, 2, 98)
    assert (cup_figures["on_hand"], cup_figures["reserved"], cup_figures["available"]) == (50, 1, 49)
    with inventory.client("support") as http:
        ledger = http.get(f"/ledger/{tea}").json()
    assert ledger["consistent"]
    assert [(e["cause"], e["reserved_delta"], e["reference"]) for e in ledger["entries"]] == [
        ("initial_stock", 0, "PUT /skus"), ("reservation", 2, order_id)]


def test_an_order_short_on_one_line_reserves_nothing_and_is_backordered_with_the_missing_line(
        world: World, inventory) -> None:
    tea, kettle = new_skus(inventory, ("TEA", "traffic_driver", 100, 100), ("KETTLE", "profit", 10, 3))
    reservations = world.reader("inventory.reservations")
    signals = world.reader("inventory.stock")
    order_id = new_id()

    publish_order(world, accepted_order(order_id, [(tea, 5), (kettle, 4)]))

    [msg] = reservations.wait_for(outcome_of(order_id))
    assert msg.type == "stock.backordered"
    assert msg.data["missing"] == [{"sku": kettle, "quantity": 4}]
    assert msg.data["presale"] is False
    assert stock(inventory, tea)["reserved"] == 0  # the line that was available is not held either
    assert stock(inventory, kettle)["reserved"] == 0
    assert stock(inventory, kettle)["waiting_orders"] == 1
    # A profit item that sells out asks the supplier urgently (R10).
    [urgent] = signals.wait_for(lambda m: m.type == "replenishment.requested" and m.data["sku"] == kettle)
    assert (urgent.key, urgent.data["urgent"], urgent.data["quantity"]) == (kettle, True, 7)  # planned 10 from 3
    assert "sold out" in urgent.data["reason"]


def test_one_replenishment_request_per_episode_as_stock_crosses_twenty_percent(world: World, inventory) -> None:
    [kettle] = new_skus(inventory, ("KETTLE", "profit", 100, 100))
    reservations = world.reader("inventory.reservations")
    signals = world.reader("inventory.stock")

    # 18 orders of 5: available goes 95, 90, ... 10; it falls below 20 (20% of 100) at 15.
    first = {new_id() for _ in range(18)}
    for order_id in first:
        publish_order(world, accepted_order(order_id, [(kettle, 5)]))
    reservations.wait_for(reserved_for(first), count=18)
    [request] = requests_for(signals.settle(1.5), kettle)
    assert request.key == kettle
    assert request.data["quantity"] == 85  # restores planned stock from 15 available
    assert request.data["urgent"] is False
    assert stock(inventory, kettle)["open_replenishment"]["request_id"] == request.data["request_id"]

    # The supplier delivers: the episode ends, the open request is closed.
    deliver(world, kettle, 85)
    wait_until(lambda: stock(inventory, kettle)["available"] == 95)
    assert stock(inventory, kettle)["open_replenishment"] is None

    # A second crossing is a new episode: exactly one more request.
    second = {new_id() for _ in range(18)}
    for order_id in second:
        publish_order(world, accepted_order(order_id, [(kettle, 5)]))
    reservations.wait_for(reserved_for(second), count=18)
    assert len(requests_for(signals.settle(1.5), kettle)) == 2


def test_an_expired_request_lets_a_new_one_go_out_while_stock_stays_low(world: World, inventory) -> None:
    [kettle] = new_skus(inventory, ("KETTLE", "profit", 100, 30))
    reservations = world.reader("inventory.reservations")
    signals = world.reader("inventory.stock")
    first, second, third = new_id(), new_id(), new_id()
    publish_order(world, accepted_order(first, [(kettle, 15)]))  # 15 left: low
    reservations.wait_for(outcome_of(first))
    publish_order(world, accepted_order(second, [(kettle, 1)]))
    reservations.wait_for(outcome_of(second))
    assert len(requests_for(signals.settle(1.0), kettle)) == 1  # still open: no second request

    with inventory.client("admin") as http:  # the request expires after 72 hours
        assert http.put("/clock", json={"advance_seconds": 73 * 3600}).status_code == 200
    publish_order(world, accepted_order(third, [(kettle, 1)]))

    signals.wait_for(lambda m: m.type == "replenishment.requested" and m.data["sku"] == kettle, count=2)
    assert requests_for(signals.seen, kettle)[-1].data["quantity"] == 100 - 13


def test_a_delivery_fills_backorders_of_mixed_rank_in_rank_order(world: World, inventory) -> None:
    [item] = new_skus(inventory, ("SET", "profit", 40, 0))
    reservations = world.reader("inventory.reservations")
    # Arrival order deliberately differs from rank order.
    orders = [
        ("standard", PAID_AT), ("presale", PAID_AT + timedelta(minutes=5)), ("high_value", PAID_AT),
        ("standard", PAID_AT - timedelta(minutes=1)), ("presale", PAID_AT), ("high_value", PAID_AT - timedelta(hours=1)),
    ]
    placed = []
    for klass, paid_at in orders:
        order_id = new_id()
        data = accepted_order(order_id, [(item, 2)], priority_class=klass, paid_at=paid_at)
        placed.append((data["priority_rank"], order_id))
        publish_order(world, data)
    everyone = {order_id for _, order_id in placed}
    reservations.wait_for(lambda m: m.type == "stock.backordered" and m.data["order_id"] in everyone, count=6)
    by_rank = [order_id for _, order_id in sorted(placed)]

    deliver(world, item, 8)

    reservations.wait_for(reserved_for(everyone), count=4)
    assert {m.data["order_id"] for m in reservations.settle(1.0) if reserved_for(everyone)(m)} == set(by_rank[:4])
    with inventory.client("warehouse") as http:
        ledger = http.get(f"/ledger/{item}").json()
        assert [e["reference"] for e in ledger["entries"] if e["cause"] == "reservation"] == by_rank[:4]

        # 3 more units over HTTP: the fifth in rank gets 2; the sixth needs 2 and waits, in line.
        response = http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": item, "quantity": 3})
        assert response.status_code == 201, response.text
    reservations.wait_for(reserved_for({by_rank[4]}))
    figures = stock(inventory, item)
    assert (figures["on_hand"], figures["reserved"], figures["available"], figures["waiting_orders"]) == (11, 10, 1, 1)

    # The one unit left is protected for the waiting order: a newcomer ranked after it cannot
    # take it, a newcomer ranked before it can.
    behind, before = new_id(), new_id()
    publish_order(world, accepted_order(behind, [(item, 1)], priority_class="standard",
                                        paid_at=PAID_AT + timedelta(hours=1)))
    assert reservations.wait_for(outcome_of(behind))[0].type == "stock.backordered"
    publish_order(world, accepted_order(before, [(item, 1)], priority_class="presale",
                                        paid_at=PAID_AT - timedelta(hours=1)))
    assert reservations.wait_for(outcome_of(before))[0].type == "stock.reserved"
    assert not [m for m in reservations.settle(0.5) if reserved_for({by_rank[5], behind})(m)]


def test_a_sold_out_traffic_driver_switches_to_presale_and_the_next_order_becomes_a_presale_backorder(
        world: World, inventory) -> None:
    [tea] = new_skus(inventory, ("TEA", "traffic_driver", 10, 3))
    reservations = world.reader("inventory.reservations")
    signals = world.reader("inventory.stock")

    last_units = new_id()
    publish_order(world, accepted_order(last_units, [(tea, 3)]))
    assert reservations.wait_for(outcome_of(last_units))[0].type == "stock.reserved"
    [switch] = signals.wait_for(lambda m: m.type == "sku.mode_changed" and m.key == tea)
    assert switch.data["mode"] == "presale"
    assert switch.data["discount_percent"] == 10  # the time-limited presale discount
    assert datetime.fromisoformat(switch.data["discount_until"]) > datetime.fromisoformat(switch.data["changed_at"])
    assert stock(inventory, tea)["mode"] == "presale"

    next_order = new_id()
    publish_order(world, accepted_order(next_order, [(tea, 1)]))
    [backorder] = reservations.wait_for(outcome_of(next_order))
    assert backorder.type == "stock.backordered"
    assert backorder.data["presale"] is True
    assert backorder.data["expected_date"] == switch.data["expected_date"]
    assert backorder.data["missing"] == [{"sku": tea, "quantity": 1}]

    # The supplier's goods arrive: the presale order is filled and the sku is back in stock.
    deliver(world, tea, 10)
    reservations.wait_for(reserved_for({next_order}))
    signals.wait_for(lambda m: m.type == "sku.mode_changed" and m.key == tea and m.data["mode"] == "in_stock")
    assert stock(inventory, tea)["available"] == 9


def test_cancellation_releases_and_inspected_returns_restock_each_exactly_once(world: World, inventory) -> None:
    [kettle] = new_skus(inventory, ("KETTLE", "profit", 10, 10))
    reservations = world.reader("inventory.reservations")
    order_id = new_id()
    publish_order(world, accepted_order(order_id, [(kettle, 4)]))
    reservations.wait_for(outcome_of(order_id))

    for _ in range(2):  # the same cancellation twice, as two different events
        world.publish("orders.events", "order.cancelled", {"order_id": order_id, "reason": "customer"}, key=order_id)
    released_for = lambda m: m.type == "stock.released" and m.data["order_id"] == order_id  # noqa: E731
    [released] = reservations.wait_for(released_for)
    assert released.data["lines"] == [{"sku": kettle, "quantity": 4}]
    assert len([m for m in reservations.settle(1.0) if released_for(m)]) == 1
    assert (stock(inventory, kettle)["reserved"], stock(inventory, kettle)["available"]) == (0, 10)

    passed = {"case_id": new_id("CASE"), "order_id": order_id, "lines": [{"sku": kettle, "quantity": 2}],
              "inspection_passed": True, "received_at": PAID_AT.isoformat()}
    failed = {**passed, "case_id": new_id("CASE"), "inspection_passed": False}
    for data in (passed, passed, failed):
        world.publish("aftersales.cases", "return.received", data, key=order_id)
    wait_until(lambda: stock(inventory, kettle)["on_hand"] == 12)
    time.sleep(1.0)  # let any second restock land, if it (wrongly) would
    with inventory.client("warehouse") as http:
        ledger = http.get(f"/ledger/{kettle}").json()
    assert ledger["on_hand"] == 12 and ledger["consistent"]
    assert [e["reference"] for e in ledger["entries"] if e["cause"] == "return"] == [passed["case_id"]]


def test_a_cancellation_that_overtakes_its_acceptance_means_nothing_is_reserved(world: World, inventory) -> None:
    [kettle] = new_skus(inventory, ("KETTLE", "profit", 10, 10))
    reservations = world.reader("inventory.reservations")
    order_id = new_id()
    # Same key, same partition: the cancellation is consumed first.
    world.publish("orders.events", "order.cancelled", {"order_id": order_id, "reason": "customer"}, key=order_id)
    publish_order(world, accepted_order(order_id, [(kettle, 4)]))
    marker = new_id()  # same key again: once it is decided, the acceptance before it was consumed
    world.publish("orders.events", "order.accepted", accepted_order(marker, [(kettle, 1)]), key=order_id)
    reservations.wait_for(outcome_of(marker))
    assert not [m for m in reservations.settle(1.0) if m.data.get("order_id") == order_id]
    with inventory.client("warehouse") as http:
        assert http.get(f"/reservations/{order_id}").json()["status"] == "cancelled"
    assert stock(inventory, kettle)["reserved"] == 1


def test_stock_queries_counts_and_deliveries_over_http(world: World, inventory) -> None:
    tea, item = new_skus(inventory, ("TEA", "traffic_driver", 100, 100), ("SET", "hot", 50, 5))
    dlq = world.reader("supplier.deliveries.dlq")
    with inventory.client("warehouse") as http:
        everything = http.get("/stock").json()
        assert {tea, item} <= {s["sku"] for s in everything["skus"]} and everything["as_of"]
        low = {s["sku"] for s in http.get("/stock/low").json()["skus"]}
        assert item in low and tea not in low  # 5 < 20% of 50
        assert http.get(f"/stock/{item}").json()["open_replenishment"]["quantity"] == 45

        # A physical count: TEA 3 units short; SET as recorded.
        count = http.post("/counts", json={"reference": "PRE-EVENT-1",
                                           "counts": [{"sku": tea, "quantity": 97}, {"sku": item, "quantity": 5}]})
        assert count.status_code == 200, count.text
        assert count.json()["lines"] == [
            {"sku": tea, "recorded_on_hand": 100, "ledger_on_hand": 100, "counted": 97, "difference": -3,
             "adjusted": True},
            {"sku": item, "recorded_on_hand": 5, "ledger_on_hand": 5, "counted": 5, "difference": 0,
             "adjusted": False}]
        ledger = http.get(f"/ledger/{tea}").json()
        assert ledger["consistent"] and ledger["on_hand"] == 97
        assert ledger["entries"][-1] == {**ledger["entries"][-1], "cause": "count_adjustment",
                                         "on_hand_delta": -3, "reference": "PRE-EVENT-1"}

    with inventory.client("admin") as admin:  # catalogue edits are admin-only (docs/security.md)
        # A new sku from a forecast (profit: 120%), then an edit.
        mug = f"MUG-{uuid.uuid4().hex[:6]}"
        created = admin.put(f"/skus/{mug}", json={"tier": "profit", "forecast": 100, "on_hand": 120, "name": "Mug"})
        assert created.status_code == 200 and created.json()["planned_stock"] == 120
        edited = admin.put(f"/skus/{mug}", json={"tier": "profit", "planned_stock": 200, "threshold_percent": 70})
        assert edited.json()["low"] is True  # 120 < 70% of 200

        # Bad input is refused with a reason.
        assert "tier" in admin.put("/skus/X", json={"tier": "luxury", "planned_stock": 1}).json()["detail"]
        assert admin.put(f"/skus/{mug}", json={"tier": "profit", "on_hand": 1}).status_code == 422
    with inventory.client("warehouse") as http:
        assert http.post("/counts", json={"counts": [{"sku": tea, "quantity": -1}]}).status_code == 422
        assert http.post("/counts", json={"counts": [{"sku": "NOPE", "quantity": 1}]}).status_code == 404
        assert http.post("/deliveries", json={"delivery_id": "D-1", "sku": tea, "quantity": 0}).status_code == 422
        assert http.get("/stock/NOPE").status_code == 404

    with inventory.client("support") as http:
        assert http.get("/stock").status_code == 200
        assert http.post("/deliveries", json={"delivery_id": "D-2", "sku": tea, "quantity": 1}).status_code == 403
    with inventory.anonymous_client() as http:
        assert http.get("/stock").status_code == 401

    # A delivery for a sku nobody catalogued is kept on the dead-letter topic with the reason.
    ghost = f"GHOST-{uuid.uuid4().hex[:6]}"
    world.publish("supplier.deliveries", "supplier.delivery",
                  {"delivery_id": new_id("D"), "sku": ghost, "quantity": 5, "delivered_at": PAID_AT.isoformat()},
                  key=ghost)
    [letter] = dlq.wait_for(lambda m: m.key == ghost)
    assert f"unknown sku '{ghost}'" in letter.headers["dlq.reason"]

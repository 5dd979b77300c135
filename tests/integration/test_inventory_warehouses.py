"""Several warehouses (issue 34) through the real broker and a real database: split reservations
published with their parts, a cancellation releasing every part, one part dispatched, a return
restocking the warehouse its line came from, a delivery to one warehouse filling a waiting order
in rank, and hostile inputs (unknown warehouses in events, bad bodies)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.test_inventory_stock import PAID_AT, accepted_order, new_id, outcome_of, publish_order
from tests.support.waiting import eventually as wait_until
from tests.support.world import World

pytestmark = pytest.mark.integration

WAREHOUSES = [
    {"id": "north", "name": "North DC", "regions": ["beijing"], "reaches": ["shanghai"], "carriers": ["SF"],
     "pickers": 10},
    {"id": "east", "name": "East DC", "regions": ["shanghai"], "reaches": ["beijing"], "carriers": ["YTO"],
     "pickers": 10},
    {"id": "south", "name": "South DC", "regions": ["shenzhen"], "carriers": ["ZTO"], "pickers": 5},
]


@pytest.fixture(scope="module")
def inventory(module_world: World, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("warehouses") / "warehouses.json"
    path.write_text(json.dumps(WAREHOUSES))
    return module_world.start("inventory", instance="wh", settings={"WAREHOUSES_PATH": str(path)})


@pytest.fixture
def world(module_world: World) -> World:
    return module_world


def stocked(inventory, name: str, tier: str, per_warehouse: dict[str, int]) -> str:
    """A sku of this test with its opening stock in each warehouse (planned = on hand)."""
    sku = f"{name}-{uuid.uuid4().hex[:6].upper()}"
    with inventory.client("admin") as http:  # stocked warehouses first: a sku created with none sells out
        for warehouse, units in sorted(per_warehouse.items(), key=lambda item: item[1] == 0):
            response = http.put(f"/skus/{sku}", json={"tier": tier, "planned_stock": max(units, 1), "on_hand": units,
                                                      "warehouse": warehouse})
            assert response.status_code == 200, response.text
    return sku


def figures(inventory, sku: str) -> dict[str, tuple[int, int, int]]:
    """warehouse -> (on hand, reserved, available)."""
    with inventory.client("warehouse") as http:
        body = http.get(f"/stock/{sku}").json()
    per = {w["warehouse"]: (w["on_hand"], w["reserved"], w["available"]) for w in body["warehouses"]}
    assert sum(f[0] for f in per.values()) == body["on_hand"] and sum(f[1] for f in per.values()) == body["reserved"]
    return per


def order(order_id: str, lines, region: str, policy: str = "fewest_shipments", **kwargs) -> dict:
    return {**accepted_order(order_id, lines, **kwargs), "region": region, "split_policy": policy}


def reservation(inventory, order_id: str) -> dict:
    with inventory.client("support") as http:
        return http.get(f"/reservations/{order_id}").json()


def dispatch(world: World, order_id: str, warehouse: str | None, shipment: str) -> None:
    world.publish("logistics.shipments", "shipment.dispatched",
                  {"order_id": order_id, "shipment_id": shipment, "carrier": "SF", "tracking_number": f"T-{shipment}",
                   "dispatched_at": datetime.now(UTC).isoformat(),
                   **({"warehouse": warehouse} if warehouse else {})}, key=order_id)


def test_warehouses_come_from_the_file_and_an_admin_edits_them(inventory) -> None:
    with inventory.client("warehouse") as http:
        listed = http.get("/warehouses").json()["warehouses"]
        assert [w["id"] for w in listed] == ["north", "east", "south"]
        assert listed[0] == {**WAREHOUSES[0], "reaches": ["shanghai"], "position": 0}
        assert http.put("/warehouses/west", json={"regions": ["chengdu"]}).status_code == 403
    with inventory.client("admin") as http:
        made = http.put("/warehouses/west", json={"name": "West DC", "regions": ["chengdu"], "pickers": 3})
        assert made.status_code == 200, made.text
        assert made.json()["outcome"] == "created" and made.json()["position"] == 3
        again = http.put("/warehouses/west", json={"name": "West DC", "regions": ["chengdu"], "pickers": 3})
        assert again.json()["outcome"] == "updated" and again.json()["position"] == 3


def test_a_split_order_is_reserved_whole_or_not_at_all_and_published_with_its_parts(world: World, inventory) -> None:
    tea = stocked(inventory, "TEA", "traffic_driver", {"north": 3, "east": 0, "south": 5})
    cup = stocked(inventory, "CUP", "traffic_driver", {"north": 0, "east": 2, "south": 0})
    reservations = world.reader("inventory.reservations")
    split, whole, waits = new_id("SPLIT"), new_id("WHOLE"), new_id("OWN")
    publish_order(world, order(split, [(tea, 3), (cup, 2)], "beijing"))
    [reserved] = reservations.wait_for(outcome_of(split))
    assert reserved.type == "stock.reserved", (reserved.data, figures(inventory, tea), figures(inventory, cup))
    assert reserved.data["parts"] == [{"warehouse": "north", "lines": [{"sku": tea, "quantity": 3}]},
                                      {"warehouse": "east", "lines": [{"sku": cup, "quantity": 2}]}]
    assert figures(inventory, tea) == {"north": (3, 3, 0), "east": (0, 0, 0), "south": (5, 0, 5)}
    assert figures(inventory, cup) == {"north": (0, 0, 0), "east": (2, 2, 0), "south": (0, 0, 0)}
    # Whole from a warehouse outside the region before any split; own_region waits for its region.
    publish_order(world, order(whole, [(tea, 2)], "beijing"))
    publish_order(world, order(waits, [(tea, 1)], "beijing", "own_region"))
    [w] = reservations.wait_for(outcome_of(whole))
    assert w.type == "stock.reserved" and w.data["parts"] == [{"warehouse": "south",
                                                             "lines": [{"sku": tea, "quantity": 2}]}]
    [o] = reservations.wait_for(outcome_of(waits))
    assert o.type == "stock.backordered" and o.data["missing"] == [{"sku": tea, "quantity": 1}]
    assert reservation(inventory, waits)["parts"] == []

    # The cancellation gives every part back, each to its warehouse.
    world.publish("orders.events", "order.cancelled", {"order_id": split, "reason": "customer"}, key=split)
    [released] = reservations.wait_for(lambda m: m.type == "stock.released" and m.data["order_id"] == split)
    assert released.data["lines"] == [{"sku": cup, "quantity": 2}, {"sku": tea, "quantity": 3}]
    # The waiting own_region order (beijing: north) takes north's units back, in rank.
    [filled] = reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] == waits)
    assert filled.data["parts"] == [{"warehouse": "north", "lines": [{"sku": tea, "quantity": 1}]}]
    wait_until(lambda: figures(inventory, tea) == {"north": (3, 1, 2), "east": (0, 0, 0), "south": (5, 2, 3)})
    assert figures(inventory, cup) == {"north": (0, 0, 0), "east": (2, 0, 2), "south": (0, 0, 0)}
    assert {p["state"] for p in reservation(inventory, split)["parts"]} == {"released"}


def test_one_part_ships_alone_and_a_return_restocks_the_warehouse_its_line_came_from(world: World,
                                                                                   inventory) -> None:
    kettle = stocked(inventory, "KETTLE", "profit", {"north": 2, "east": 0})
    filter_ = stocked(inventory, "FILTER", "profit", {"north": 0, "east": 4})
    reservations = world.reader("inventory.reservations")
    order_id = new_id("PARTS")
    publish_order(world, order(order_id, [(kettle, 2), (filter_, 3)], "beijing", "fastest"))
    [reserved] = reservations.wait_for(outcome_of(order_id))
    assert [p["warehouse"] for p in reserved.data["parts"]] == ["north", "east"]

    dispatch(world, order_id, "east", f"S-{order_id}-east")
    wait_until(lambda: figures(inventory, filter_)["east"] == (1, 0, 1))
    assert figures(inventory, kettle)["north"] == (2, 2, 0)  # the other part still waits to leave
    answer = reservation(inventory, order_id)
    assert answer["status"] == "reserved"
    assert {(p["warehouse"], p["state"]) for p in answer["parts"]} == {("north", "reserved"), ("east", "shipped")}
    dispatch(world, order_id, "east", f"S-{order_id}-east")  # the same part again: nothing more leaves
    dispatch(world, order_id, "north", f"S-{order_id}-north")
    wait_until(lambda: reservation(inventory, order_id)["status"] == "shipped")
    assert figures(inventory, kettle)["north"] == (0, 0, 0) and figures(inventory, filter_)["east"] == (1, 0, 1)

    case = {"case_id": new_id("CASE"), "order_id": order_id, "lines": [{"sku": filter_, "quantity": 2}],
            "inspection_passed": True, "received_at": PAID_AT.isoformat()}
    world.publish("aftersales.cases", "return.received", case, key=order_id)
    wait_until(lambda: figures(inventory, filter_)["east"] == (3, 0, 3))
    assert figures(inventory, filter_)["north"] == (0, 0, 0)


def test_a_delivery_to_one_warehouse_fills_the_waiting_orders_there_in_rank(world: World, inventory) -> None:
    lamp = stocked(inventory, "LAMP", "profit", {"north": 0, "south": 0})
    reservations = world.reader("inventory.reservations")
    early, late = new_id("EARLY"), new_id("LATE")
    # `late` arrives first but ranks after `early` (a later payment): rank, not arrival, decides.
    publish_order(world, order(late, [(lamp, 2)], "beijing", "own_region",
                               paid_at=PAID_AT.replace(hour=5)))
    publish_order(world, order(early, [(lamp, 2)], "beijing", "own_region", paid_at=PAID_AT.replace(hour=1)))
    for order_id in (early, late):
        [waiting] = reservations.wait_for(outcome_of(order_id))
        assert waiting.type == "stock.backordered"
    # Stock in the south does not fill own_region orders of beijing.
    world.publish("supplier.deliveries", "supplier.delivery",
                  {"delivery_id": new_id("D"), "sku": lamp, "quantity": 5, "delivered_at": PAID_AT.isoformat(),
                   "warehouse": "south"}, key=lamp)
    wait_until(lambda: figures(inventory, lamp)["south"] == (5, 0, 5))
    world.publish("supplier.deliveries", "supplier.delivery",
                  {"delivery_id": new_id("D"), "sku": lamp, "quantity": 3, "delivered_at": PAID_AT.isoformat(),
                   "warehouse": "north"}, key=lamp)
    [filled] = reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] in (early, late))
    assert filled.data["order_id"] == early
    assert filled.data["parts"] == [{"warehouse": "north", "lines": [{"sku": lamp, "quantity": 2}]}]
    assert not [m for m in reservations.settle(1.0) if m.type == "stock.reserved" and m.data["order_id"] == late]
    assert figures(inventory, lamp) == {"north": (3, 2, 1), "south": (5, 0, 5)}
    assert reservation(inventory, late)["status"] == "backordered"


def test_a_newcomer_cannot_take_what_a_waiting_order_ahead_holds_in_its_home_warehouse(world: World,
                                                                                     inventory) -> None:
    bowl = stocked(inventory, "BOWL", "profit", {"north": 2, "east": 2})
    reservations = world.reader("inventory.reservations")
    ahead, newcomer, elsewhere = new_id("AHEAD"), new_id("NEW"), new_id("ELSE")
    # `ahead` (beijing, home north) waits for 3: north's 2 are held for it.
    publish_order(world, order(ahead, [(bowl, 3)], "beijing", "own_region", paid_at=PAID_AT.replace(hour=1)))
    [waits] = reservations.wait_for(outcome_of(ahead))
    assert waits.type == "stock.backordered"
    # A later beijing order gets east's units, not north's.
    publish_order(world, order(newcomer, [(bowl, 2)], "beijing", paid_at=PAID_AT.replace(hour=5)))
    [got] = reservations.wait_for(outcome_of(newcomer))
    assert got.type == "stock.reserved" and got.data["parts"] == [{"warehouse": "east",
                                                                   "lines": [{"sku": bowl, "quantity": 2}]}]
    # Nothing left beyond what `ahead` holds: the next one waits, north untouched.
    publish_order(world, order(elsewhere, [(bowl, 1)], "shanghai", paid_at=PAID_AT.replace(hour=6)))
    [third] = reservations.wait_for(outcome_of(elsewhere))
    assert third.type == "stock.backordered"
    assert figures(inventory, bowl) == {"north": (2, 0, 2), "east": (2, 2, 0)}


def test_low_stock_in_one_warehouse_asks_the_supplier_for_that_warehouse(world: World, inventory) -> None:
    mug = stocked(inventory, "MUG", "traffic_driver", {"north": 10, "east": 10})
    stock_events = world.reader("inventory.stock")
    order_id = new_id("LOW")
    publish_order(world, order(order_id, [(mug, 9)], "beijing"))
    [request] = stock_events.wait_for(lambda m: m.type == "replenishment.requested" and m.data["sku"] == mug)
    assert request.data["warehouse"] == "north" and request.data["quantity"] == 9
    assert not [m for m in stock_events.settle(1.0) if m.type == "sku.mode_changed" and m.data["sku"] == mug]


def test_an_unknown_warehouse_in_an_event_is_a_dead_letter_and_the_consumer_carries_on(world: World,
                                                                                     inventory) -> None:
    pot = stocked(inventory, "POT", "profit", {"north": 5})
    reservations = world.reader("inventory.reservations")
    shipments_dlq, deliveries_dlq = world.reader("logistics.shipments.dlq"), world.reader("supplier.deliveries.dlq")
    order_id = new_id("GHOST")
    publish_order(world, order(order_id, [(pot, 1)], "beijing"))
    reservations.wait_for(outcome_of(order_id))
    dispatch(world, order_id, "atlantis", f"S-{order_id}-x")
    dispatch(world, order_id, "east", f"S-{order_id}-east")  # a known warehouse with no part of the order
    dispatch(world, order_id, "north", f"S-{order_id}-north")  # carries on: the real part leaves
    letters = shipments_dlq.wait_for(lambda m: m.key == order_id, count=2)
    reasons = sorted(m.headers["dlq.reason"] for m in letters)
    assert "'atlantis', which is not a known warehouse" in reasons[1]
    assert "has no part in warehouse 'east'" in reasons[0]
    wait_until(lambda: figures(inventory, pot)["north"] == (4, 0, 4))

    world.publish("supplier.deliveries", "supplier.delivery",
                  {"delivery_id": new_id("D"), "sku": pot, "quantity": 5, "delivered_at": PAID_AT.isoformat(),
                   "warehouse": "atlantis"}, key=pot)
    [letter] = deliveries_dlq.wait_for(lambda m: m.key == pot)
    assert "'atlantis', which is not a known warehouse" in letter.headers["dlq.reason"]
    assert figures(inventory, pot) == {"north": (4, 0, 4)}


@pytest.mark.parametrize("body, expected", [
    (b"\xff\xfe{}", 400),
    (b'{"regions": ' + b"[" * 200 + b"]" * 200 + b"}", 422),
    (json.dumps({"regions": ["a"], "pickers": 1.5}).encode(), 422),
    (json.dumps({"regions": ["a"], "colour": "red"}).encode(), 422),
    (json.dumps({"regions": ["a", "a"]}).encode(), 422),
    (json.dumps({"id": "other", "regions": ["a"]}).encode(), 422),
    (json.dumps({"regions": ["x" * 65]}).encode(), 422),
    (json.dumps({"regions": ["a"], "name": "n" * 5_000_000}).encode(), 413),
])
def test_hostile_warehouse_bodies_are_refused_with_a_problem(inventory, body: bytes, expected: int) -> None:
    with inventory.client("admin") as http:
        response = http.put("/warehouses/hostile", content=body, headers={"content-type": "application/json"})
        assert response.status_code == expected, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == expected
        assert "hostile" not in [w["id"] for w in http.get("/warehouses").json()["warehouses"]]


@pytest.mark.parametrize("body, expected", [
    (b"\xff\xfe{}", 400),
    (b'{"transfer_id": ' + b"[" * 200 + b"]" * 200 + b"}", 422),
    (json.dumps({"transfer_id": "T-1", "sku": "X", "quantity": 1.0, "from": "north", "to": "east"}).encode(), 422),
    (json.dumps({"transfer_id": "T-1", "sku": "X", "quantity": 1, "from": "north", "to": "east",
                 "via": "moon"}).encode(), 422),
    (json.dumps({"transfer_id": "bad id", "sku": "X", "quantity": 1, "from": "north", "to": "east"}).encode(), 422),
    (json.dumps({"transfer_id": "T-2", "sku": "NO-SUCH-SKU", "quantity": 1, "from": "north",
                 "to": "east"}).encode(), 404),
])
def test_hostile_transfer_bodies_are_refused_with_a_problem(inventory, body: bytes, expected: int) -> None:
    with inventory.client("warehouse") as http:
        response = http.post("/transfers", content=body, headers={"content-type": "application/json"})
        assert response.status_code == expected, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert http.post("/transfers/NOPE/receive").status_code == 404


def test_a_bad_warehouses_file_stops_start_up_with_the_reason(tmp_path: Path) -> None:
    from services.inventory.app import build_app
    from services.inventory.settings import InventorySettings
    from services.inventory.warehouses import WarehousesInvalid
    from shared.settings import KafkaSettings
    path = tmp_path / "warehouses.json"
    path.write_text(json.dumps([{"id": "north", "regions": ["beijing"], "pickers": -3}]))
    settings = InventorySettings(warehouses_path=path, database_url=f"sqlite:///{tmp_path / 'inventory.sqlite'}")
    with pytest.raises(WarehousesInvalid, match="item 1: pickers must be between 0"):
        build_app(settings, KafkaSettings())

"""Inventory at the edges of its input (issue 27, findings 4, 6 and 7), through the real broker
and a real service process:

- quantities past 64 bits, and stock figures pushed past `MAX_STOCK_UNITS`, are refused (HTTP
  422 with the reason, or a dead letter with the reason) and never corrupt a sku;
- catalogue edits (create a sku, change tier, planned stock or mode) are admin-only; warehouse
  keeps deliveries and counts;
- every ledger entry names who caused it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from services.inventory.access import ACCESS
from shared.db import make_engine
from shared.limits import MAX_STOCK_UNITS
from shared.migrations import alembic_config
from tests.support.waiting import eventually as wait_until
from tests.support.world import World

pytestmark = pytest.mark.integration

DELIVERED_AT = datetime(2026, 11, 11, 0, 0, 3, tzinfo=UTC).isoformat()
HUGE = 2**62  # two of these overflow a signed 64-bit column
PAST_64_BITS = 2**63
LIMIT = str(MAX_STOCK_UNITS)


@pytest.fixture(scope="module")
def inventory(module_world: World):
    return module_world.start("inventory")


@pytest.fixture
def world(module_world: World) -> World:
    return module_world


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def new_sku(inventory, *, on_hand: int = 10, planned: int = 100, tier: str = "profit", subject: str = "tester") -> str:
    sku = new_id("EDGE")
    with inventory.client("admin", subject=subject) as http:
        response = http.put(f"/skus/{sku}", json={"tier": tier, "planned_stock": planned, "on_hand": on_hand})
    assert response.status_code == 200, response.text
    return sku


def ledger(inventory, sku: str) -> dict:
    """The sku's ledger, which must answer 200 with exact integer figures that it explains."""
    with inventory.client("support") as http:
        response = http.get(f"/ledger/{sku}")
    assert response.status_code == 200, response.text
    # Parse with Python's json so a float (e.g. 9.223372036854776e+18) stays visible as one.
    body = json.loads(response.text)
    for figure in ("on_hand", "reserved", "available", "ledger_on_hand", "ledger_reserved"):
        assert type(body[figure]) is int, (figure, body[figure])
        assert 0 <= body[figure] <= MAX_STOCK_UNITS, (figure, body[figure])
    assert body["consistent"], body
    return body


def mentions(response, *words: str) -> bool:
    """The error's reason names all `words` (whatever the body's exact shape)."""
    return all(word in response.text for word in words)


def deliver(world: World, sku: str, quantity: int) -> str:
    delivery_id = new_id("D")
    world.publish("supplier.deliveries", "supplier.delivery",
                  {"delivery_id": delivery_id, "sku": sku, "quantity": quantity, "delivered_at": DELIVERED_AT},
                  key=sku)
    return delivery_id


# -- finding 4: quantities past 64 bits, figures past the limit -------------------------------


def test_two_deliveries_of_2_62_units_over_http_are_refused_and_the_sku_stays_exact(inventory) -> None:
    sku = new_sku(inventory, on_hand=10)
    with inventory.client("warehouse") as http:
        for _ in range(2):
            response = http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": sku, "quantity": HUGE})
            assert response.status_code == 422, response.text
            assert mentions(response, LIMIT)
    figures = ledger(inventory, sku)
    assert (figures["on_hand"], figures["available"], len(figures["entries"])) == (10, 10, 1)


def test_deliveries_over_http_fill_a_sku_up_to_the_limit_and_not_one_unit_past(inventory) -> None:
    sku = new_sku(inventory, on_hand=10)
    with inventory.client("warehouse") as http:
        first = http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": sku, "quantity": MAX_STOCK_UNITS - 10})
        assert first.status_code == 201, first.text
        assert first.json()["on_hand"] == MAX_STOCK_UNITS
        refused_id = new_id("D")
        one_more = http.post("/deliveries", json={"delivery_id": refused_id, "sku": sku, "quantity": 1})
        assert one_more.status_code == 422, one_more.text
        assert mentions(one_more, sku, LIMIT)
        # Refused means not booked: the same delivery id can come again once there is room.
        count = http.post("/counts", json={"counts": [{"sku": sku, "quantity": MAX_STOCK_UNITS - 1}]})
        assert count.status_code == 200, count.text
        again = http.post("/deliveries", json={"delivery_id": refused_id, "sku": sku, "quantity": 1})
        assert again.status_code == 201 and again.json()["outcome"] == "received", again.text
    figures = ledger(inventory, sku)
    assert figures["on_hand"] == figures["available"] == MAX_STOCK_UNITS


def test_2_63_units_on_counts_deliveries_and_put_skus_are_refused_with_422(inventory) -> None:
    sku = new_sku(inventory, on_hand=10)
    with inventory.client("warehouse") as http:
        count = http.post("/counts", json={"counts": [{"sku": sku, "quantity": PAST_64_BITS}]})
        delivery = http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": sku, "quantity": PAST_64_BITS})
        for response in (count, delivery):
            assert response.status_code == 422, response.text
            assert mentions(response, "quantity", LIMIT)
    with inventory.client("admin") as http:
        for field in ("on_hand", "planned_stock", "forecast"):
            body = {"tier": "profit", "planned_stock": 100, field: PAST_64_BITS}
            for target in (sku, new_id("EDGE")):  # an edit, and a creation
                response = http.put(f"/skus/{target}", json=body)
                assert response.status_code == 422, (field, response.text)
                assert mentions(response, field, LIMIT)
        # Negative figures, and floats for whole units, are refused as well.
        assert http.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": -1}).status_code == 422
        assert http.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": 1e20}).status_code == 422
        assert http.post("/counts", json={"counts": [{"sku": sku, "quantity": 5.0}]}).status_code == 422
        assert http.post("/deliveries", json={"delivery_id": "D-F", "sku": sku, "quantity": 2.5}).status_code == 422
        # Planned stock worked out from a forecast (profit: 120%) may not pass the limit either.
        planned = http.put(f"/skus/{new_id('EDGE')}", json={"tier": "profit", "forecast": MAX_STOCK_UNITS})
        assert planned.status_code == 422 and mentions(planned, "planned", LIMIT), planned.text
        # A new sku may open with exactly the limit.
        at_limit = http.put(f"/skus/{new_id('EDGE')}", json={"tier": "hot", "planned_stock": MAX_STOCK_UNITS,
                                                               "on_hand": MAX_STOCK_UNITS})
        assert at_limit.status_code == 200, at_limit.text
        assert ledger(inventory, at_limit.json()["sku"])["on_hand"] == MAX_STOCK_UNITS
    figures = ledger(inventory, sku)
    assert (figures["on_hand"], figures["available"], figures["entries"][-1]["cause"]) == (10, 10, "initial_stock")


def test_deliveries_on_kafka_past_the_limit_are_dead_lettered_and_the_consumer_carries_on(
        world: World, inventory) -> None:
    sku, canary = new_sku(inventory, on_hand=10), new_sku(inventory, on_hand=0)
    dlq = world.reader("supplier.deliveries.dlq")

    huge = [deliver(world, sku, HUGE) for _ in range(2)]
    filling = deliver(world, sku, MAX_STOCK_UNITS - 10)  # exactly to the limit: booked
    one_past = deliver(world, sku, 1)  # valid for any contract; only the stock limit refuses it
    # Behind them on the same partition (same key), for the consumer to reach after them.
    world.publish("supplier.deliveries", "supplier.delivery", {"delivery_id": new_id("D"), "sku": canary,
                                                               "quantity": 5, "delivered_at": DELIVERED_AT}, key=sku)

    wait_until(lambda: ledger(inventory, canary)["on_hand"] == 5)
    letters = dlq.wait_for(lambda m: m.key == sku, count=3)
    refused = {json.loads(m.value)["data"]["delivery_id"]: m.headers["dlq.reason"] for m in letters}
    assert set(refused) == {*huge, one_past}
    assert all(LIMIT in reason for reason in refused.values()), refused
    assert sku in refused[one_past]
    figures = ledger(inventory, sku)
    assert figures["on_hand"] == MAX_STOCK_UNITS
    assert [(e["cause"], e["reference"]) for e in figures["entries"]] == [("initial_stock", "PUT /skus"),
                                                                          ("delivery", filling)]


# -- finding 6: catalogue edits are admin-only --------------------------------------------------


def test_warehouse_cannot_edit_the_catalogue_but_keeps_deliveries_and_counts(inventory) -> None:
    sku = new_sku(inventory, on_hand=10, planned=100)
    for role in ("warehouse", "support", "platform"):
        with inventory.client(role) as http:
            created = http.put(f"/skus/{new_id('EDGE')}", json={"tier": "hot", "planned_stock": 5, "on_hand": 500})
            edited = http.put(f"/skus/{sku}", json={"tier": "traffic_driver", "planned_stock": 1, "mode": "presale"})
            for response in (created, edited):
                assert response.status_code == 403, (role, response.text)
                assert mentions(response, "admin")
    with inventory.client("support") as http:
        figures = http.get(f"/stock/{sku}").json()
    assert (figures["tier"], figures["planned_stock"], figures["mode"]) == ("profit", 100, "in_stock")

    with inventory.client("warehouse") as http:
        assert http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": sku, "quantity": 5}).status_code == 201
        assert http.post("/counts", json={"counts": [{"sku": sku, "quantity": 14}]}).status_code == 200
        assert http.get(f"/ledger/{sku}").status_code == 200
    with inventory.client("admin") as http:
        edited = http.put(f"/skus/{sku}", json={"tier": "traffic_driver", "planned_stock": 50, "mode": "presale"})
        assert edited.status_code == 200, edited.text
        assert (edited.json()["tier"], edited.json()["planned_stock"], edited.json()["mode"]) == (
            "traffic_driver", 50, "presale")
    # The table behind it, as docs/security.md gives the roles.
    assert ACCESS[("PUT", "/skus/{sku}")] == frozenset({"admin"})
    assert ACCESS[("POST", "/counts")] == ACCESS[("POST", "/deliveries")] == frozenset({"warehouse", "admin"})


# -- finding 7: the ledger names who caused each entry ------------------------------------------


def test_every_ledger_entry_names_its_actor(world: World, inventory) -> None:
    sku = new_sku(inventory, on_hand=10, subject="alice")
    reservations = world.reader("inventory.reservations")
    with inventory.client("warehouse", subject="bob") as http:
        assert http.post("/counts", json={"reference": "C-1", "counts": [{"sku": sku, "quantity": 8}]}).status_code == 200
        assert http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": sku, "quantity": 2}).status_code == 201
    by_kafka = deliver(world, sku, 3)
    wait_until(lambda: ledger(inventory, sku)["on_hand"] == 13)  # booked before the order comes
    order_id = new_id("O")
    world.publish("orders.events", "order.accepted", {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{order_id}", "lines": [{"sku": sku, "quantity": 1, "unit_price": "10.00", "gift": False}],
        "discount": "0.00", "paid_amount": "10.00", "paid_at": DELIVERED_AT, "region": "Shanghai", "currency": "CNY",
        "accepted_at": DELIVERED_AT}, key=order_id)
    reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] == order_id)

    entries = [(e["cause"], e["actor"]) for e in wait_until(
        lambda: (lambda b: b["entries"] if len(b["entries"]) == 5 else None)(ledger(inventory, sku)))]
    assert entries == [
        ("initial_stock", "http:alice(admin)"),
        ("count_adjustment", "http:bob(warehouse)"),
        ("delivery", "http:bob(warehouse)"),
        ("delivery", "kafka:supplier.deliveries(source=tests)"),
        ("reservation", "kafka:orders.events(source=tests)"),
    ], by_kafka


def test_the_actor_migration_gives_earlier_ledger_entries_an_empty_actor(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'inventory.sqlite'}")
    cfg = alembic_config("inventory", engine.url.render_as_string(hide_password=False))
    command.upgrade(cfg, "1ef9a8949047")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO inventory_ledger_entry (sku, cause, on_hand_delta, reserved_delta, "
                          "reference, at) VALUES ('S', 'delivery', 5, 0, 'D-1', '2026-11-11 00:00:00')"))
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM inventory_ledger_entry")).scalar_one() == ""
    command.downgrade(cfg, "1ef9a8949047")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inventory_ledger_entry")).scalar_one() == 1
    engine.dispose()

"""Each order's lifecycle from the other services' events, through the real broker: the full
journey, events out of order across topics, illegal steps refused, cancellation before and
after dispatch (R4). The test plays inventory, logistics and aftersales by publishing their
events on their topics."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.world import World

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 11, 0, 0, 3, tzinfo=UTC)
LINES = [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False},
         {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}]


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


class Others:
    """Publishes what inventory, logistics and aftersales would say about an order."""

    def __init__(self, world: World, order_id: str) -> None:
        self.world, self.order_id = world, order_id
        self.case_id = f"CASE-{uuid.uuid4().hex[:6]}"

    def backordered(self, minute: float = 1) -> str:
        return self.world.publish("inventory.reservations", "stock.backordered", {
            "order_id": self.order_id, "missing": [{"sku": "SKU-TEA-01", "quantity": 2}],
            "backordered_at": at(minute)}, key=self.order_id)

    def reserved(self, minute: float = 2, event_id: str | None = None) -> str:
        return self.world.publish("inventory.reservations", "stock.reserved", {
            "order_id": self.order_id, "priority_class": "standard", "priority_rank": "2-x", "lines": LINES,
            "region": "Shanghai", "paid_at": at(0), "reserved_at": at(minute)}, key=self.order_id, event_id=event_id)

    def released(self, minute: float = 4) -> str:
        return self.world.publish("inventory.reservations", "stock.released", {
            "order_id": self.order_id, "lines": [{"sku": "SKU-TEA-01", "quantity": 2}],
            "released_at": at(minute)}, key=self.order_id)

    def dispatched(self, minute: float = 60) -> str:
        return self.world.publish("logistics.shipments", "shipment.dispatched", {
            "order_id": self.order_id, "shipment_id": f"S-{self.order_id}", "carrier": "SF",
            "tracking_number": "SF100", "dispatched_at": at(minute)}, key=self.order_id)

    def delivered(self, minute: float = 1440) -> str:
        return self.world.publish("logistics.shipments", "shipment.delivered", {
            "order_id": self.order_id, "shipment_id": f"S-{self.order_id}", "delivered_at": at(minute)},
            key=self.order_id)

    def return_requested(self, minute: float = 2000) -> str:
        return self.world.publish("aftersales.cases", "return.requested", {
            "case_id": self.case_id, "order_id": self.order_id, "kind": "return",
            "lines": [{"sku": "SKU-TEA-01", "quantity": 2}], "requested_at": at(minute)}, key=self.order_id)

    def return_received(self, minute: float = 3000) -> str:
        return self.world.publish("aftersales.cases", "return.received", {
            "case_id": self.case_id, "order_id": self.order_id, "lines": [{"sku": "SKU-TEA-01", "quantity": 2}],
            "inspection_passed": True, "received_at": at(minute)}, key=self.order_id)

    def refunded(self, minute: float = 3100, amount: str = "89.80") -> str:
        return self.world.publish("aftersales.cases", "refund.issued", {
            "case_id": self.case_id, "order_id": self.order_id, "amount": amount, "issued_at": at(minute)},
            key=self.order_id)


@pytest.fixture(scope="module")
def orders(module_world: World):
    # The business clock stands at T0, so orders are accepted before the other services' steps.
    service = module_world.start("orders", settings={"CLOCK": "settable"})
    with service.client() as http:
        http.put("/clock", json={"now": T0.isoformat()}).raise_for_status()
    return service


def place(world: World, order_id: str) -> None:
    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)


def view(orders, order_id: str) -> dict:
    with orders.client() as http:
        return http.get(f"/orders/{order_id}").json()


def wait_for_order(orders, order_id: str, condition, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    body: dict = {}
    while time.monotonic() < deadline:
        with orders.client() as http:
            response = http.get(f"/orders/{order_id}")
        if response.status_code == 200:
            body = response.json()
            if condition(body):
                return body
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} never met the condition; last seen: {body}")


def status_is(status: str):
    return lambda body: body.get("status") == status


def steps(body: dict, outcome: str | None = None) -> list[str]:
    return [s["status"] for s in body["timeline"] if outcome is None or s["outcome"] == outcome]


def test_one_order_walks_through_every_state_with_the_time_of_each_step(module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    place(module_world, order_id)
    wait_for_order(orders, order_id, status_is("accepted"))

    for say, state in [(others.backordered, "backordered"), (others.reserved, "reserved"),
                       (others.dispatched, "shipped"), (others.delivered, "delivered"),
                       (others.return_requested, "return_requested"), (others.return_received, "returned"),
                       (others.refunded, "refunded")]:
        say()
        wait_for_order(orders, order_id, status_is(state))

    body = view(orders, order_id)
    assert steps(body) == ["accepted", "backordered", "reserved", "shipped", "delivered", "return_requested",
                           "returned", "refunded"]
    assert body["steps_reached"]["shipped"] == at(60)
    assert body["steps_reached"]["refunded"] == at(3100)
    assert body["paid_amount"] == "89.80" and body["lines"][0]["sku"] == "SKU-TEA-01"


def test_dispatch_seen_before_the_reservation_still_ships_and_the_reservation_is_kept_as_late(
        module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    place(module_world, order_id)
    wait_for_order(orders, order_id, status_is("accepted"))

    others.dispatched()
    wait_for_order(orders, order_id, status_is("shipped"))
    others.reserved()
    body = wait_for_order(orders, order_id, lambda b: "reserved" in steps(b))

    assert body["status"] == "shipped"
    assert [s["outcome"] for s in body["timeline"] if s["status"] == "reserved"] == ["late"]
    # The timeline reads in the order things happened, not the order they were heard of.
    assert steps(body) == ["accepted", "reserved", "shipped"]


def test_events_that_overtake_their_order_are_parked_and_applied_once_it_is_accepted(
        module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    others.reserved()
    others.dispatched()
    with orders.client() as http:
        deadline = time.monotonic() + 30
        while http.get("/stats").json()["parked_events"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)

    place(module_world, order_id)

    body = wait_for_order(orders, order_id, status_is("shipped"))
    assert steps(body) == ["accepted", "reserved", "shipped"]


def test_a_replayed_lifecycle_event_is_applied_once(module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    place(module_world, order_id)
    wait_for_order(orders, order_id, status_is("accepted"))
    event_id = str(uuid.uuid4())

    others.reserved(event_id=event_id)
    others.reserved(event_id=event_id)
    others.dispatched()  # same order id, so it is consumed after both copies

    body = wait_for_order(orders, order_id, status_is("shipped"))
    assert steps(body) == ["accepted", "reserved", "shipped"]


def test_cancel_before_dispatch_publishes_order_cancelled_and_shows_the_stock_released(
        module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    events = module_world.reader("orders.events")
    place(module_world, order_id)
    others.reserved()
    wait_for_order(orders, order_id, status_is("reserved"))

    with orders.client() as http:
        response = http.post(f"/orders/{order_id}/cancel", json={"reason": "customer changed mind"})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    [cancelled] = events.wait_for(lambda m: m.type == "order.cancelled" and m.data["order_id"] == order_id)
    assert cancelled.key == order_id
    assert cancelled.data["reason"] == "customer changed mind" and cancelled.data["cancelled_at"]
    others.released()  # what inventory answers to order.cancelled

    body = wait_for_order(orders, order_id, lambda b: "stock_released" in steps(b))
    assert body["status"] == "cancelled"
    assert [s["note"] for s in body["timeline"] if s["status"] == "stock_released"] == ["released SKU-TEA-01 x2"]
    with orders.client() as http:  # asking again changes nothing and publishes nothing new
        assert http.post(f"/orders/{order_id}/cancel").json()["already_cancelled"] is True
    assert len([m for m in events.settle(1.0) if m.type == "order.cancelled" and m.data["order_id"] == order_id]) == 1


def test_the_platform_can_cancel_by_event_before_dispatch(module_world: World, orders) -> None:
    order_id = new_id()
    events = module_world.reader("orders.events")
    place(module_world, order_id)
    module_world.publish("platform.orders", "order.cancelled", {"order_id": order_id, "reason": "unpaid"},
                         key=order_id)

    [cancelled] = events.wait_for(lambda m: m.type == "order.cancelled" and m.data["order_id"] == order_id)
    assert cancelled.data["reason"] == "unpaid"
    wait_for_order(orders, order_id, status_is("cancelled"))


def test_cancel_after_dispatch_is_refused_with_a_reason_and_nothing_is_released(module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    events = module_world.reader("orders.events")
    place(module_world, order_id)
    others.reserved()
    others.dispatched()
    wait_for_order(orders, order_id, status_is("shipped"))

    with orders.client() as http:
        response = http.post(f"/orders/{order_id}/cancel")
    assert response.status_code == 409
    assert "already shipped" in response.json()["detail"] and "return it instead" in response.json()["detail"]
    module_world.publish("platform.orders", "order.cancelled", {"order_id": order_id, "reason": "too late"},
                         key=order_id)

    [refusal] = events.wait_for(lambda m: m.type == "order.cancellation_refused" and m.data["order_id"] == order_id,
                                count=2)[-1:]
    assert "can no longer be cancelled" in refusal.data["reason"]
    assert not [m for m in events.settle(1.0) if m.type == "order.cancelled" and m.data["order_id"] == order_id]
    assert view(orders, order_id)["status"] == "shipped"


def test_a_hand_over_that_crossed_a_cancellation_moves_the_order_on_because_the_goods_left(
        module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    place(module_world, order_id)
    wait_for_order(orders, order_id, status_is("accepted"))
    with orders.client() as http:
        assert http.post(f"/orders/{order_id}/cancel").status_code == 200

    others.dispatched()

    body = wait_for_order(orders, order_id, lambda b: "shipped" in steps(b))
    assert body["status"] == "shipped"
    [crossed] = [s for s in body["timeline"] if s["status"] == "shipped"]
    assert crossed["outcome"] == "advanced" and "before the cancellation reached" in crossed["note"]


def stats(orders) -> dict:
    with orders.client() as http:
        return http.get("/stats").json()


def test_a_partial_return_leaves_the_order_partially_refunded_and_gmv_net_of_it(module_world: World, orders) -> None:
    order_id = new_id()
    others = Others(module_world, order_id)
    place(module_world, order_id)
    wait_for_order(orders, order_id, status_is("accepted"))
    for say in (others.reserved, others.dispatched, others.delivered, others.return_requested, others.return_received):
        say()
    wait_for_order(orders, order_id, status_is("returned"))
    before = stats(orders)

    others.refunded(amount="30.00")  # one of the two teas came back
    body = wait_for_order(orders, order_id, status_is("partially_refunded"))
    assert body["refunded_amount"] == "30.00" and body["paid_amount"] == "89.80"
    assert steps(body)[-1] == "partially_refunded"
    after = stats(orders)
    assert after["gmv"] == before["gmv"]  # gross: what was paid
    assert Decimal(after["refunded"]) - Decimal(before["refunded"]) == Decimal("30.00")
    assert Decimal(after["gmv_net"]) == Decimal(after["gmv"]) - Decimal(after["refunded"])
    assert after["by_state"]["partially_refunded"]["orders"] == before["by_state"]["partially_refunded"]["orders"] + 1

    others.refunded(minute=3200, amount="59.80")  # the rest: refunded in full
    body = wait_for_order(orders, order_id, status_is("refunded"))
    assert body["refunded_amount"] == "89.80"
    assert steps(body)[-2:] == ["partially_refunded", "refunded"]

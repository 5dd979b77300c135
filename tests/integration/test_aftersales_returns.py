"""Aftersales acceptance through the real broker and a real aftersales process (SQLite).

The tests play the orders and logistics services by publishing `order.accepted` on orders.events
and `shipment.delivered` / `shipment.exception` on logistics.shipments, then drive cases over HTTP
and read what aftersales publishes on aftersales.cases. The service's clock is settable, so the
seven-day and 48-hour rules are tested at exact instants.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.services import ServiceProcess
from tests.support.world import World

pytestmark = pytest.mark.integration

DELIVERED = datetime(2026, 11, 14, 9, 30, tzinfo=UTC)


# --- playing orders and logistics ------------------------------------------------------------------

def new_id() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def accepted_data(order_id: str, lines: list[dict], *, discount: str, paid: str, promotions: list | None = None) -> dict:
    return {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{order_id}", "lines": lines, "discount": discount, "paid_amount": paid,
        "paid_at": "2026-11-11T00:00:03Z", "region": "Shanghai", "currency": "CNY",
        "promotions": promotions or [], "accepted_at": "2026-11-11T00:00:04Z",
    }


def three_tens(order_id: str) -> dict:
    """Three 10.00 lines, 10.00 off: 20.00 paid does not divide by three (6.66 + 6.67 + 6.67)."""
    lines = [{"sku": sku, "quantity": 1, "unit_price": "10.00"} for sku in ("SKU-A", "SKU-B", "SKU-C")]
    return accepted_data(order_id, lines, discount="10.00", paid="20.00")


def tea_with_gift(order_id: str) -> dict:
    lines = [{"sku": "SKU-TEA", "quantity": 2, "unit_price": "49.90", "weight_kg": "0.50"},
             {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True, "gift_for_sku": "SKU-TEA"}]
    return accepted_data(order_id, lines, discount="10.00", paid="89.80")


def place_and_deliver(world: World, data: dict, delivered_at: datetime = DELIVERED) -> str:
    order_id = data["order_id"]
    world.publish("orders.events", "order.accepted", data, key=order_id)
    deliver(world, order_id, delivered_at)
    return order_id


def deliver(world: World, order_id: str, delivered_at: datetime) -> None:
    world.publish("logistics.shipments", "shipment.delivered",
                  {"order_id": order_id, "shipment_id": f"S-{order_id}", "delivered_at": delivered_at.isoformat()},
                  key=order_id)


def wait_returnable(http: httpx.Client, order_id: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        r = http.get(f"/orders/{order_id}/returnable")
        if r.status_code == 200:
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} never became returnable: {r.status_code} {r.text}")
        time.sleep(0.1)


def set_clock(http: httpx.Client, moment: datetime) -> None:
    r = http.put("/clock", json={"now": moment.isoformat()})
    assert r.status_code == 200, r.text


def ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


def case_events(world_reader, case_id: str, type_: str, count: int = 1) -> list:
    return world_reader.wait_for(lambda m: m.type == type_ and m.data["case_id"] == case_id, count=count)


# --- one aftersales process for the module ---------------------------------------------------------

@pytest.fixture(scope="module")
def aftersales(module_world: World) -> ServiceProcess:
    return module_world.start("aftersales", settings={"CLOCK": "settable"})


@pytest.fixture
def http(aftersales: ServiceProcess) -> Iterator[httpx.Client]:
    with aftersales.client() as client:
        yield client


@pytest.fixture(scope="module")
def cases_topic(module_world: World):
    return module_world.reader("aftersales.cases")


# --- R19: the seven-day window ----------------------------------------------------------------------

def test_a_return_at_167h59m_after_delivery_is_accepted_and_at_168h01m_refused(module_world, http, cases_topic) -> None:
    order_id = place_and_deliver(module_world, three_tens(new_id()))
    wait_returnable(http, order_id)

    set_clock(http, DELIVERED + timedelta(hours=167, minutes=59))
    case = ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-A", "quantity": 1}]}))
    assert case["status"] == "requested"
    [requested] = case_events(cases_topic, case["case_id"], "return.requested")
    assert requested.key == order_id

    set_clock(http, DELIVERED + timedelta(hours=168, minutes=1))
    refused = http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-B", "quantity": 1}]})
    assert refused.status_code == 409
    assert "seven-day return window" in refused.json()["detail"]


def test_each_refusal_of_a_return_request_says_why(module_world, http) -> None:
    order_id = place_and_deliver(module_world, three_tens(new_id()))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=1))

    def refusal(body: dict) -> tuple[int, str]:
        r = http.post("/returns", json=body)
        return r.status_code, str(r.json()["detail"])

    assert refusal({"order_id": order_id, "lines": [{"sku": "SKU-X", "quantity": 1}]}) == (
        422, f"order {order_id} has no line SKU-X")
    status, reason = refusal({"order_id": order_id, "lines": [{"sku": "SKU-A", "quantity": 2}]})
    assert (status, reason.split(" (")[0]) == (422, "only 1 of SKU-A can still be returned")
    assert refusal({"order_id": "O-unknown", "lines": [{"sku": "SKU-A", "quantity": 1}]})[0] == 404

    undelivered = new_id()
    module_world.publish("orders.events", "order.accepted", three_tens(undelivered), key=undelivered)
    deadline = time.monotonic() + 30
    while http.get(f"/orders/{undelivered}/returnable").status_code == 404:  # not consumed yet
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status, reason = refusal({"order_id": undelivered, "lines": [{"sku": "SKU-A", "quantity": 1}]})
    assert (status, "has not been delivered yet" in reason) == (409, True)

    ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-A", "quantity": 1}]}))
    status, reason = refusal({"order_id": order_id, "lines": [{"sku": "SKU-A", "quantity": 1}]})
    assert status == 422 and "1 in open cases" in reason  # already being returned


def test_a_delivery_that_arrives_before_the_order_details_is_kept(module_world, http) -> None:
    order_id = new_id()
    deliver(module_world, order_id, DELIVERED)
    deadline = time.monotonic() + 30
    while http.get(f"/orders/{order_id}/returnable").status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    early = http.get(f"/orders/{order_id}/returnable")
    assert early.status_code == 409 and "order details" in early.json()["detail"]

    module_world.publish("orders.events", "order.accepted", three_tens(order_id), key=order_id)
    body = wait_returnable(http, order_id)
    assert body["delivered_at"] == DELIVERED.isoformat()
    assert [line["paid"] for line in body["lines"]] == ["6.66", "6.67", "6.67"]


# --- R20: gifts --------------------------------------------------------------------------------------

def test_a_gift_alone_is_refused_and_returning_its_item_brings_the_gift_back(module_world, http, cases_topic) -> None:
    order_id = place_and_deliver(module_world, tea_with_gift(new_id()))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=30))

    gift_only = http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-CUP-GIFT", "quantity": 1}]})
    assert gift_only.status_code == 422
    assert "gift cannot be returned or exchanged on its own" in gift_only.json()["detail"]

    preview = ok(http.get(f"/orders/{order_id}/returnable", params={"lines": "SKU-TEA:2"}))
    assert preview["gift_policy"] == "return_with_item"
    assert preview["refund_preview"]["amount"] == "89.80"
    assert [(l["sku"], l["added_by_gift_rule"]) for l in preview["refund_preview"]["lines"]] == [
        ("SKU-TEA", False), ("SKU-CUP-GIFT", True)]

    case = ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-TEA", "quantity": 2}]}))
    assert [(l["sku"], l["quantity"], l["gift"]) for l in case["lines"]] == [
        ("SKU-TEA", 2, False), ("SKU-CUP-GIFT", 1, True)]
    [requested] = case_events(cases_topic, case["case_id"], "return.requested")
    assert {(l["sku"], l["gift"]) for l in requested.data["lines"]} == {("SKU-TEA", False), ("SKU-CUP-GIFT", True)}


# --- the case workflow, R23 refunds and restock ---------------------------------------------------------

def test_a_return_walks_from_request_to_refund_with_restock_and_a_refund_of_what_was_paid(
        module_world, http, cases_topic) -> None:
    order_id = place_and_deliver(module_world, three_tens(new_id()))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=20))

    case = ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-A", "quantity": 1}],
                                          "reason": "changed my mind"}))
    case_id = case["case_id"]
    assert case["refund_preview"] == "6.66"
    assert case["deadline_at"] == (DELIVERED + timedelta(hours=68)).isoformat()
    ok(http.post(f"/cases/{case_id}/approve"))
    ok(http.post(f"/cases/{case_id}/receive"))
    inspected = ok(http.post(f"/cases/{case_id}/inspect", json={"passed": True}))
    assert inspected["inspection_passed"] is True
    refunded = ok(http.post(f"/cases/{case_id}/refund"))
    assert (refunded["status"], refunded["refund_amount"]) == ("refunded", "6.66")

    events = {t: case_events(cases_topic, case_id, t)[0] for t in (
        "return.requested", "return.approved", "return.arrived", "return.received", "refund.issued")}
    restock = events["return.received"].data
    assert restock["inspection_passed"] is True  # inventory restocks these lines
    assert restock["lines"] == [{"sku": "SKU-A", "quantity": 1, "gift": False}]
    assert events["refund.issued"].data["amount"] == "6.66"  # the order moves to refunded
    assert {m.key for m in events.values()} == {order_id}
    offsets = [events[t].offset for t in ("return.requested", "return.approved", "return.arrived",
                                          "return.received", "refund.issued")]
    assert offsets == sorted(offsets)  # one partition per order, in step order
    timeline = ok(http.get(f"/cases/{case_id}"))["timeline"]
    assert [s["status"] for s in timeline] == ["requested", "approved", "received", "inspected", "refunded"]

    # the rest of the order: 6.67 + 6.67, so the refunds add up to exactly the 20.00 paid
    rest = ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-B", "quantity": 1},
                                                                          {"sku": "SKU-C", "quantity": 1}]}))
    for step, body in (("approve", None), ("receive", None), ("inspect", {"passed": True}), ("refund", None)):
        ok(http.post(f"/cases/{rest['case_id']}/{step}", json=body))
    [second] = case_events(cases_topic, rest["case_id"], "refund.issued")
    assert second.data["amount"] == "13.34"
    after = ok(http.get(f"/orders/{order_id}/returnable"))
    assert after["refunded_so_far"] == "20.00"
    assert [line["returnable"] for line in after["lines"]] == [0, 0, 0]


def test_a_failed_inspection_does_not_restock(module_world, http, cases_topic) -> None:
    order_id = place_and_deliver(module_world, three_tens(new_id()))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=20))
    case_id = ok(http.post("/returns", json={"order_id": order_id,
                                             "lines": [{"sku": "SKU-B", "quantity": 1}]}))["case_id"]
    ok(http.post(f"/cases/{case_id}/approve"))
    ok(http.post(f"/cases/{case_id}/receive"))
    ok(http.post(f"/cases/{case_id}/inspect", json={"passed": False, "note": "seal broken, item used"}))
    rejected = ok(http.post(f"/cases/{case_id}/reject", json={"reason": "returned item was used"}))
    assert rejected["status"] == "rejected"

    [received] = case_events(cases_topic, case_id, "return.received")
    assert received.data["inspection_passed"] is False
    case_events(cases_topic, case_id, "return.rejected")
    assert not [m for m in cases_topic.seen if m.type == "refund.issued" and m.data["case_id"] == case_id]
    # a rejected case gives its units back: they can be returned again
    after = ok(http.get(f"/orders/{order_id}/returnable"))
    assert [line["returnable"] for line in after["lines"]] == [1, 1, 1]


def test_a_step_out_of_order_is_refused_with_the_next_allowed_steps(module_world, http) -> None:
    order_id = place_and_deliver(module_world, three_tens(new_id()))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=2))
    case_id = ok(http.post("/returns", json={"order_id": order_id,
                                             "lines": [{"sku": "SKU-C", "quantity": 1}]}))["case_id"]
    r = http.post(f"/cases/{case_id}/refund")
    assert r.status_code == 409
    assert "next steps: approved, rejected" in r.json()["detail"]
    assert http.post("/cases/CASE-nope/approve").status_code == 404


def test_an_exchange_asks_logistics_for_a_replacement_of_the_same_item(module_world, http, cases_topic) -> None:
    order_id = place_and_deliver(module_world, tea_with_gift(new_id()))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=50))
    case_id = ok(http.post("/returns", json={"order_id": order_id, "kind": "exchange",
                                             "lines": [{"sku": "SKU-TEA", "quantity": 1}]}))["case_id"]
    for step, body in (("approve", None), ("receive", None), ("inspect", {"passed": True}), ("exchange", None)):
        ok(http.post(f"/cases/{case_id}/{step}", json=body))
    [asked] = case_events(cases_topic, case_id, "exchange.requested")
    assert asked.data["region"] == "Shanghai"
    assert [(l["sku"], l["quantity"], l["unit_price"], l["weight_kg"]) for l in asked.data["lines"]] == [
        ("SKU-TEA", 1, "49.90", "0.50")]
    assert not [m for m in cases_topic.seen if m.type == "refund.issued" and m.data["case_id"] == case_id]


# --- R21/R22: the queue -----------------------------------------------------------------------------------

def test_a_dispute_opened_after_ordinary_cases_comes_first(module_world, http) -> None:
    order_id = place_and_deliver(module_world, three_tens(new_id()))
    wait_returnable(http, order_id)
    ordinary = []
    for hours, sku in ((3, "SKU-A"), (4, "SKU-B")):
        set_clock(http, DELIVERED + timedelta(hours=hours))
        ordinary.append(ok(http.post("/returns", json={"order_id": order_id,
                                                       "lines": [{"sku": sku, "quantity": 1}]}))["case_id"])
    set_clock(http, DELIVERED + timedelta(hours=5))
    dispute = ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-C", "quantity": 1}],
                                             "reason": "item not as described", "dispute": True}))["case_id"]

    queue = [c["case_id"] for c in ok(http.get("/cases"))["cases"]]
    assert queue[0] == dispute
    assert [c for c in queue if c in ordinary] == ordinary  # then by deadline

    # an ordinary case escalated later moves ahead of the rest too
    ok(http.post(f"/cases/{ordinary[1]}/dispute", json={"note": "customer complained publicly"}))
    queue = [c["case_id"] for c in ok(http.get("/cases"))["cases"]]
    assert queue[:2] == [ordinary[1], dispute]  # both disputes; the earlier deadline first


def test_a_shipment_exception_opens_one_case_that_support_can_refund(module_world, http, cases_topic) -> None:
    order_id = new_id()
    module_world.publish("orders.events", "order.accepted", three_tens(order_id), key=order_id)
    report = {"order_id": order_id, "shipment_id": f"S-{order_id}", "kind": "lost", "note": "parcel missing",
              "reported_at": DELIVERED.isoformat()}
    module_world.publish("logistics.shipments", "shipment.exception", report, key=order_id)
    module_world.publish("logistics.shipments", "shipment.exception", report, key=order_id)  # reported twice
    # same key, same partition: once this delivery is consumed, both reports were too
    deliver(module_world, order_id, DELIVERED)
    wait_returnable(http, order_id)
    mine = [c for c in ok(http.get("/cases"))["cases"] if c["order_id"] == order_id]
    assert len(mine) == 1
    assert (mine[0]["kind"], mine[0]["exception_kind"]) == ("shipment_exception", "lost")

    refunded = ok(http.post(f"/cases/{mine[0]['case_id']}/refund"))
    assert refunded["refund_amount"] == "20.00"  # lost parcel: everything paid
    [issued] = case_events(cases_topic, mine[0]["case_id"], "refund.issued")
    assert issued.data["amount"] == "20.00"


def test_the_asyncapi_document_lists_what_aftersales_consumes_and_publishes(http) -> None:
    text = http.get("/asyncapi.json").text
    for name in ("orders.events", "logistics.shipments", "return.received", "refund.issued", "exchange.requested"):
        assert name in text


def test_an_order_whose_amounts_cannot_be_split_is_dead_lettered_with_the_reason(module_world, http) -> None:
    dlq = module_world.reader("orders.events.dlq")
    order_id = new_id()
    module_world.publish("orders.events", "order.accepted",
                         accepted_data(order_id, [{"sku": "SKU-A", "quantity": 1, "unit_price": "10.00"}],
                                       discount="0.00", paid="12.00"), key=order_id)
    [letter] = dlq.wait_for(lambda m: m.key == order_id)
    assert "exceeds the list value" in letter.headers["dlq.reason"]


# --- separate processes: configuration and SLA figures -------------------------------------------------------

def test_with_the_deduct_value_gift_policy_the_gift_stays_and_its_value_is_deducted(world: World) -> None:
    service = world.start("aftersales", settings={"CLOCK": "settable", "GIFT_POLICY": "deduct_value"})
    cases = world.reader("aftersales.cases")
    order_id = new_id()
    lines = [{"sku": "SKU-TEA", "quantity": 2, "unit_price": "49.90"},
             {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "15.00", "gift": True, "gift_for_sku": "SKU-TEA"}]
    # 25.00 off: 10.00 spend threshold and the 15.00 gift
    place_and_deliver(world, accepted_data(order_id, lines, discount="25.00", paid="89.80"))
    with service.client() as http:
        wait_returnable(http, order_id)
        set_clock(http, DELIVERED + timedelta(hours=10))
        case = ok(http.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-TEA", "quantity": 2}]}))
        assert [l["sku"] for l in case["lines"]] == ["SKU-TEA"]
        assert case["refund_preview"] == "74.80"  # 89.80 paid minus the 15.00 gift kept
        for step, body in (("approve", None), ("receive", None), ("inspect", {"passed": True}), ("refund", None)):
            ok(http.post(f"/cases/{case['case_id']}/{step}", json=body))
    [issued] = case_events(cases, case["case_id"], "refund.issued")
    assert issued.data["amount"] == "74.80"


def test_a_partial_return_below_a_spend_threshold_refunds_less_by_the_lost_discount(module_world, http) -> None:
    order_id = new_id()
    lines = [{"sku": "SKU-A", "quantity": 1, "unit_price": "100.00"},
             {"sku": "SKU-B", "quantity": 1, "unit_price": "100.00"}]
    promotions = [{"kind": "spend_threshold", "threshold": "200.00", "amount": "30.00"}]
    place_and_deliver(module_world, accepted_data(order_id, lines, discount="30.00", paid="170.00",
                                                  promotions=promotions))
    wait_returnable(http, order_id)
    set_clock(http, DELIVERED + timedelta(hours=10))
    preview = ok(http.get(f"/orders/{order_id}/returnable", params={"lines": "SKU-A:1"}))
    assert preview["refund_preview"]["amount"] == "70.00"  # 85.00 paid for A minus 15.00 B no longer earns


def test_the_sla_gives_the_share_handled_within_48h_and_the_cases_at_risk(world: World) -> None:
    service = world.start("aftersales", settings={"CLOCK": "settable", "AT_RISK_HOURS": "6"})
    order_id = place_and_deliver(world, three_tens(new_id()))
    with service.client() as http:
        wait_returnable(http, order_id)
        opened = DELIVERED + timedelta(hours=1)
        ids = []
        for minute, sku in enumerate(("SKU-A", "SKU-B", "SKU-C")):
            set_clock(http, opened + timedelta(minutes=minute))
            ids.append(ok(http.post("/returns", json={"order_id": order_id,
                                                      "lines": [{"sku": sku, "quantity": 1}]}))["case_id"])
        set_clock(http, opened + timedelta(hours=41, minutes=59))
        assert ok(http.get("/cases/sla"))["at_risk"] == []  # more than 6 hours left
        set_clock(http, opened + timedelta(hours=47, minutes=59))
        ok(http.post(f"/cases/{ids[0]}/approve"))  # handled in time
        at_risk = ok(http.get("/cases/sla"))
        assert [c["case_id"] for c in at_risk["at_risk"]] == ids[1:]
        set_clock(http, opened + timedelta(hours=49))
        ok(http.post(f"/cases/{ids[1]}/reject", json={"reason": "outside policy"}))  # handled late
        sla = ok(http.get("/cases/sla"))
    assert (sla["cases"], sla["handled"], sla["handled_within_48h"], sla["overdue_unhandled"]) == (3, 2, 1, 1)
    assert sla["share_handled_within_48h"] == "0.3333"
    assert [c["case_id"] for c in sla["at_risk"]] == [ids[2]]
    assert sla["at_risk"][0]["overdue"] is True

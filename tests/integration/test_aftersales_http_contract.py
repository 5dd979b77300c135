"""The aftersales HTTP contract (issue 28): the case queue pages with limit + cursor, POST /returns
and the case steps honour Idempotency-Key, every operation documents its answer's schema, and
errors are problem bodies. Against the real service and broker."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.aftersales.cases import queue_tier
from shared.pagination import encode_cursor
from tests.support.openapi import assert_every_answer_has_a_schema
from tests.support.world import World

pytestmark = pytest.mark.integration

DELIVERED = datetime(2026, 11, 14, 9, 30, tzinfo=UTC)
PROBLEM_JSON = "application/problem+json"
CASE_KEYS = {"case_id", "order_id", "kind", "status", "dispute", "reason", "opened_at", "deadline_at", "handled_at",
             "closed_at", "overdue", "inspection_passed", "refund_amount", "shipment_id", "exception_kind", "lines"}
"""What a case answer has always carried (the returns desk and the simulator read them)."""


def three_tens(order_id: str) -> dict:
    lines = [{"sku": sku, "quantity": 1, "unit_price": "10.00"} for sku in ("SKU-A", "SKU-B", "SKU-C")]
    return {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{order_id}", "lines": lines, "discount": "10.00", "paid_amount": "20.00",
        "paid_at": "2026-11-11T00:00:03Z", "region": "Shanghai", "currency": "CNY", "promotions": [],
        "accepted_at": "2026-11-11T00:00:04Z",
    }


def delivered_orders(world: World, http: httpx.Client, count: int) -> list[str]:
    """`count` new orders, accepted and delivered, once aftersales can take returns of them."""
    order_ids = [f"O-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    for order_id in order_ids:
        world.publish("orders.events", "order.accepted", three_tens(order_id), key=order_id)
        world.publish("logistics.shipments", "shipment.delivered",
                      {"order_id": order_id, "shipment_id": f"S-{order_id}", "delivered_at": DELIVERED.isoformat()},
                      key=order_id)
    deadline = time.monotonic() + 60
    for order_id in order_ids:
        while http.get(f"/orders/{order_id}/returnable").status_code != 200:
            assert time.monotonic() < deadline, f"order {order_id} never became returnable"
            time.sleep(0.1)
    return order_ids


def set_clock(http: httpx.Client, moment: datetime) -> None:
    http.put("/clock", json={"now": moment.isoformat()}).raise_for_status()


def return_of(order_id: str, sku: str, **extra) -> dict:
    return {"order_id": order_id, "lines": [{"sku": sku, "quantity": 1}], **extra}


def assert_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == f"/problems/{kind}"


def walk(http: httpx.Client, limit: int, **params) -> list[dict]:
    """Every page of GET /cases, first to last."""
    pages, cursor = [], None
    while True:
        page = http.get("/cases", params={"limit": limit, **params} | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["cases"]) <= limit
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture(scope="module")
def service(module_world: World):
    return module_world.start("aftersales", settings={"CLOCK": "settable"})


@pytest.fixture(scope="module")
def cases_topic(module_world: World):
    return module_world.reader("aftersales.cases")


def test_the_queue_pages_through_every_case_exactly_once_in_queue_order(module_world: World, service) -> None:
    with service.client() as http:
        orders = delivered_orders(module_world, http, 4)
        ours: list[str] = []
        for hour, order_id in enumerate(orders):
            # Three cases of an order opened at the same instant share their deadline: case ids decide.
            set_clock(http, DELIVERED + timedelta(hours=hour + 1))
            for sku in ("SKU-A", "SKU-B", "SKU-C"):
                dispute = hour == 3 and sku == "SKU-B"
                r = http.post("/returns", json=return_of(order_id, sku, dispute=dispute))
                assert r.status_code == 201, r.text
                ours.append(r.json()["case_id"])
        exception_order = orders[0] + "-X"
        module_world.publish("logistics.shipments", "shipment.exception",
                             {"order_id": exception_order, "shipment_id": f"S-{exception_order}", "kind": "damaged",
                              "reported_at": DELIVERED.isoformat()}, key=exception_order)
        deadline = time.monotonic() + 30
        while not [c for c in http.get("/cases", params={"limit": 500}).json()["cases"]
                   if c["order_id"] == exception_order]:
            assert time.monotonic() < deadline, "the exception case was never opened"
            time.sleep(0.1)
        closed = ours[0]
        http.post(f"/cases/{closed}/reject", json={"reason": "outside policy"}).raise_for_status()

        whole = http.get("/cases", params={"limit": 500}).json()
        assert whole["next_cursor"] is None
        pages = walk(http, 5)
        walked = [c["case_id"] for page in pages for c in page["cases"]]
        assert len(walked) == len(set(walked)), "a case on two pages"
        assert walked == [c["case_id"] for c in whole["cases"]]
        assert set(ours) - {closed} <= set(walked) and closed not in walked and len(pages) >= 3
        # The order is the domain's queue order: disputes, shipment exceptions, then by deadline.
        expected = sorted(whole["cases"], key=lambda c: (
            queue_tier(c["dispute"], c["kind"]), datetime.fromisoformat(c["deadline_at"]),
            datetime.fromisoformat(c["opened_at"]), c["case_id"]))
        assert walked == [c["case_id"] for c in expected]
        assert whole["cases"][0]["dispute"] is True and whole["cases"][1]["kind"] == "shipment_exception"
        assert all(CASE_KEYS <= set(c) for c in whole["cases"])

        everything = [c["case_id"] for page in walk(http, 4, include_closed="true") for c in page["cases"]]
        assert len(everything) == len(set(everything)) == len(walked) + 1 and closed in everything

        assert_problem(http.get("/cases", params={"cursor": "not-a-cursor!"}), 400, "invalid-cursor")
        assert_problem(http.get("/cases", params={"cursor": "bm9wZQ"}), 400, "invalid-cursor")
        # A well-formed cursor of another list's shape is refused the same way.
        assert_problem(http.get("/cases", params={"cursor": encode_cursor("CASE-1")}), 400, "invalid-cursor")
        assert_problem(http.get("/cases", params={"limit": 0}), 422, "invalid-request")
        assert_problem(http.get("/cases", params={"limit": 5001}), 422, "invalid-request")


def test_a_return_requested_again_with_its_idempotency_key_opens_one_case(module_world: World, service,
                                                                           cases_topic) -> None:
    with service.client() as http:
        [order_id] = delivered_orders(module_world, http, 1)
        set_clock(http, DELIVERED + timedelta(hours=5))
        key = {"Idempotency-Key": f"return-{uuid.uuid4()}"}
        body = return_of(order_id, "SKU-A", reason="too small")
        first = http.post("/returns", json=body, headers=key)
        again = http.post("/returns", json=dict(reversed(list(body.items()))), headers=key)  # same request
        assert first.status_code == again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
        assert again.json() == first.json() and first.json()["refund_preview"] == "6.66"
        assert CASE_KEYS | {"timeline"} <= set(first.json())
        mine = [c for c in http.get("/cases", params={"limit": 500}).json()["cases"] if c["order_id"] == order_id]
        assert [c["case_id"] for c in mine] == [first.json()["case_id"]]

        assert_problem(http.post("/returns", json=return_of(order_id, "SKU-B"), headers=key),
                       422, "idempotency-key-reused")
        assert_problem(http.post("/returns", json=body, headers={"Idempotency-Key": "k" * 201}), 400, "invalid-request")
        # Without a key every request is a new case.
        plain = http.post("/returns", json=return_of(order_id, "SKU-B"))
        assert plain.status_code == 201 and plain.json()["case_id"] != first.json()["case_id"]
    cases_topic.wait_for(lambda m: m.type == "return.requested" and m.data["order_id"] == order_id, count=2)
    requested = [m for m in cases_topic.settle(quiet_s=1.0)
                 if m.type == "return.requested" and m.data["order_id"] == order_id]
    assert sorted(m.data["case_id"] for m in requested) == sorted([first.json()["case_id"], plain.json()["case_id"]])


def test_each_case_step_retried_with_its_idempotency_key_happens_once(module_world: World, service,
                                                                        cases_topic) -> None:
    with service.client() as http:
        [order_id, other_order] = delivered_orders(module_world, http, 2)
        set_clock(http, DELIVERED + timedelta(hours=6))
        case_id = http.post("/returns", json=return_of(order_id, "SKU-C")).json()["case_id"]
        other = http.post("/returns", json=return_of(other_order, "SKU-C")).json()["case_id"]
        for step, body in (("approve", None), ("receive", {"note": "parcel in"}), ("inspect", {"passed": True}),
                           ("dispute", {"note": "loud"}), ("refund", None)):
            key = {"Idempotency-Key": f"{step}-{uuid.uuid4()}"}
            first = http.post(f"/cases/{case_id}/{step}", json=body, headers=key)
            again = http.post(f"/cases/{case_id}/{step}", json=body, headers=key)
            assert first.status_code == again.status_code == 200, (step, first.text, again.text)
            assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true", step
            assert_problem(http.post(f"/cases/{other}/{step}", json=body, headers=key), 422, "idempotency-key-reused")
        refunded = http.get(f"/cases/{case_id}").json()
        assert (refunded["status"], refunded["refund_amount"], refunded["dispute"]) == ("refunded", "6.67", True)
        assert [s["status"] for s in refunded["timeline"]] == [
            "requested", "approved", "received", "inspected", "disputed", "refunded"]

        # Without a key the workflow refuses a repeated step (nothing happens twice); a dispute is a no-op.
        http.post(f"/cases/{other}/approve").raise_for_status()
        assert_problem(http.post(f"/cases/{other}/approve"), 409, "conflict")
        for _ in range(2):
            assert http.post(f"/cases/{other}/dispute", json={"note": "again"}).status_code == 200
        assert [s["status"] for s in http.get(f"/cases/{other}").json()["timeline"]] == [
            "requested", "approved", "disputed"]
    cases_topic.wait_for(lambda m: m.type == "refund.issued" and m.data["case_id"] == case_id)
    seen = [m for m in cases_topic.settle(quiet_s=1.0) if m.data.get("case_id") == case_id]
    assert sorted(m.type for m in seen) == sorted(
        ["return.requested", "return.approved", "return.arrived", "return.received", "refund.issued"])
    assert len([m for m in cases_topic.seen if m.type == "return.approved" and m.data["case_id"] == other]) == 1


def test_every_operation_documents_the_schema_of_its_answer_and_errors_are_problem_bodies(service) -> None:
    with service.client() as http:
        document = http.get("/openapi.json").json()
        assert_every_answer_has_a_schema(document)
        changing = [("post", "/returns")] + [("post", f"/cases/{{case_id}}/{step}") for step in (
            "approve", "receive", "inspect", "refund", "exchange", "reject", "dispute")]
        for method, path in changing:
            names = {p["name"] for p in document["paths"][path][method].get("parameters", [])}
            assert "Idempotency-Key" in names, path
        list_params = {p["name"] for p in document["paths"]["/cases"]["get"]["parameters"]}
        assert {"limit", "cursor", "include_closed"} <= list_params
        assert "next_cursor" in document["components"]["schemas"]["CaseList"]["properties"]

        invalid = http.post("/returns", json={"order_id": "O-1", "lines": []})
        assert_problem(invalid, 422, "invalid-request")
        assert "lines" in invalid.json()["detail"]
        refused = http.post("/returns", json=return_of("O-unknown", "SKU-A"))
        assert_problem(refused, 404, "not-found")
        assert refused.json()["detail"] == "order O-unknown is not known to aftersales"
        assert_problem(http.get("/cases/CASE-nope"), 404, "not-found")
        assert_problem(http.get("/orders/O-1/returnable", params={"lines": "SKU-A"}), 404, "not-found")

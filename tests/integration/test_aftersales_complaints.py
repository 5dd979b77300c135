"""Complaints over HTTP (R27) against the real aftersales service and broker: the 1-hour and
24-hour clocks by the service's settable clock, public ones first on the desk, Idempotency-Key,
problem bodies for bad input, who may do what, and GET /cases?order_id=."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.world import World

pytestmark = pytest.mark.integration

OPENED = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
PROBLEM_JSON = "application/problem+json"


def accepted(order_id: str, customer_id: str = "C-7") -> dict:
    return {
        "order_id": order_id, "customer_id": customer_id, "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{order_id}", "lines": [{"sku": "SKU-A", "quantity": 1, "unit_price": "10.00"}],
        "discount": "0.00", "paid_amount": "10.00", "paid_at": "2026-11-11T00:00:03Z", "region": "Shanghai",
        "currency": "CNY", "promotions": [], "accepted_at": "2026-11-11T00:00:04Z",
    }


def known_orders(world: World, http: httpx.Client, count: int) -> list[str]:
    """`count` new orders aftersales has heard of (order.accepted on Kafka)."""
    order_ids = [f"O-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    for order_id in order_ids:
        world.publish("orders.events", "order.accepted", accepted(order_id), key=order_id)
    deadline = time.monotonic() + 60
    for order_id in order_ids:  # /returnable answers 409 (not delivered) once the order is known
        while http.get(f"/orders/{order_id}/returnable").status_code != 409:
            assert time.monotonic() < deadline, f"order {order_id} never reached aftersales"
            time.sleep(0.1)
    return order_ids


def set_clock(http: httpx.Client, moment: datetime) -> None:
    http.put("/clock", json={"now": moment.isoformat()}).raise_for_status()


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == f"/problems/{kind}"
    return response.json()


def complaint(order_id: str, channel: str = "private", **extra) -> dict:
    return {"order_id": order_id, "channel": channel, "subject": "Parcel late", "text": "Where is my parcel?",
            **extra}


@pytest.fixture(scope="module")
def service(module_world: World):
    return module_world.start("aftersales", settings={"CLOCK": "settable"})


def test_the_clocks_run_on_the_service_clock_and_public_complaints_come_first(module_world: World,
                                                                               service) -> None:
    with service.client() as http:
        first, second, third = known_orders(module_world, http, 3)
        set_clock(http, OPENED)
        private = http.post("/complaints", json=complaint(first))
        assert private.status_code == 201, private.text
        body = private.json()
        assert (body["customer_id"], body["status"], body["channel"]) == ("C-7", "open", "private")
        assert body["first_response_due"] == (OPENED + timedelta(hours=1)).isoformat()
        assert body["resolution_due"] == (OPENED + timedelta(hours=24)).isoformat()
        assert body["first_response_overdue"] is False and body["opened_by"] == "tester"
        set_clock(http, OPENED + timedelta(minutes=20))
        public = http.post("/complaints", json=complaint(second, "public", customer_id="C-7")).json()

        def desk(**params) -> list[dict]:
            answer = http.get("/complaints", params={"limit": 500, **params})
            assert answer.status_code == 200, answer.text
            return [c for c in answer.json()["complaints"] if c["order_id"] in (first, second, third)]

        # The public one is first although the private one is due sooner.
        assert [c["complaint_id"] for c in desk()] == [public["complaint_id"], body["complaint_id"]]

        set_clock(http, OPENED + timedelta(hours=1))  # due at 60:00: not late yet
        assert not any(c["first_response_overdue"] for c in desk())
        set_clock(http, OPENED + timedelta(hours=1, seconds=1))
        flags = {c["channel"]: c["first_response_overdue"] for c in desk()}
        assert flags == {"private": True, "public": False}
        assert http.get(f"/complaints/{body['complaint_id']}").json()["first_response_overdue"] is True

        answered = http.post(f"/complaints/{body['complaint_id']}/respond", json={"response": "Sorry, checking"})
        assert answered.status_code == 200, answered.text
        assert answered.json()["first_response_in_time"] is False
        assert answered.json()["first_response_overdue"] is False
        assert answered.json()["next_due"] == body["resolution_due"]
        assert_problem(http.post(f"/complaints/{body['complaint_id']}/respond", json={"response": "again"}),
                       409, "conflict")

        set_clock(http, OPENED + timedelta(hours=24, seconds=1))
        assert {c["channel"]: c["resolution_overdue"] for c in desk()} == {"private": True, "public": False}
        resolved = http.post(f"/complaints/{body['complaint_id']}/resolve", json={"resolution": "Refunded postage"})
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        assert resolved.json()["resolved_in_time"] is False
        assert_problem(http.post(f"/complaints/{body['complaint_id']}/resolve", json={"resolution": "twice"}),
                       409, "conflict")
        assert [c["complaint_id"] for c in desk()] == [public["complaint_id"]]
        assert [c["complaint_id"] for c in desk(state="closed")] == [body["complaint_id"]]
        assert len(desk(state="all")) == 2
        assert [c["complaint_id"] for c in desk(order_id=first, state="all")] == [body["complaint_id"]]
        assert desk(order_id=third, state="all") == []


def test_the_desk_pages_by_cursor_in_desk_order(module_world: World, service) -> None:
    with service.client() as http:
        [order_id] = known_orders(module_world, http, 1)
        made = []
        for n in range(5):
            set_clock(http, OPENED + timedelta(days=3, minutes=n))
            channel = "public" if n % 2 else "private"
            made.append(http.post("/complaints", json=complaint(order_id, channel)).json()["complaint_id"])
        pages, cursor = [], None
        while True:
            answer = http.get("/complaints", params={"limit": 2, "order_id": order_id}
                              | ({"cursor": cursor} if cursor else {})).json()
            pages.append([c["complaint_id"] for c in answer["complaints"]])
            cursor = answer["next_cursor"]
            if cursor is None:
                break
        walked = [c for page in pages for c in page]
        assert walked == [made[1], made[3], made[0], made[2], made[4]] and len(pages) == 3
        assert_problem(http.get("/complaints", params={"cursor": "nope!"}), 400, "invalid-cursor")


def test_opening_honours_idempotency_key_and_refuses_bad_input(module_world: World, service) -> None:
    with service.client() as http:
        [order_id] = known_orders(module_world, http, 1)
        key = {"Idempotency-Key": f"complaint-{uuid.uuid4()}"}
        first = http.post("/complaints", json=complaint(order_id), headers=key)
        again = http.post("/complaints", json=complaint(order_id), headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
        mine = http.get("/complaints", params={"order_id": order_id}).json()["complaints"]
        assert [c["complaint_id"] for c in mine] == [first.json()["complaint_id"]]
        assert_problem(http.post("/complaints", json=complaint(order_id, "public"), headers=key),
                       422, "idempotency-key-reused")
        step_key = {"Idempotency-Key": f"respond-{uuid.uuid4()}"}
        cid = first.json()["complaint_id"]
        once = http.post(f"/complaints/{cid}/respond", json={"response": "hi"}, headers=step_key)
        twice = http.post(f"/complaints/{cid}/respond", json={"response": "hi"}, headers=step_key)
        assert once.status_code == twice.status_code == 200 and once.json() == twice.json()

        for bad in (complaint(order_id, "twitter"), complaint(order_id, subject="x" * 201),
                    complaint(order_id, text="x" * 4001), complaint(order_id, subject=""),
                    complaint(order_id, extra="field"), {"order_id": order_id}, complaint("O 1; drop"),
                    complaint(order_id, customer_id="C" * 300)):
            assert_problem(http.post("/complaints", json=bad), 422, "invalid-request")
        assert "subject" in assert_problem(http.post("/complaints", json=complaint(order_id, subject="   ")),
                                           422, "invalid-request")["detail"]
        assert_problem(http.post("/complaints", json=complaint(order_id, customer_id="C-other")),
                       422, "invalid-request")
        assert_problem(http.post("/complaints", json=complaint("O-never-heard-of")), 404, "not-found")
        assert_problem(http.get("/complaints/CMP-NOPE"), 404, "not-found")
        assert_problem(http.post("/complaints/CMP-NOPE/resolve", json={"resolution": "x"}), 404, "not-found")
        assert_problem(http.post(f"/complaints/{cid}/resolve", json={"resolution": "r" * 2001}),
                       422, "invalid-request")
        assert_problem(http.get("/complaints", params={"state": "sideways"}), 422, "invalid-request")
        assert_problem(http.get("/complaints", params={"limit": 501}), 422, "invalid-request")


def test_support_acts_admin_reads_and_the_platform_may_open(module_world: World, service) -> None:
    with service.client() as http:
        [order_id] = known_orders(module_world, http, 1)
    with service.client("platform") as platform:
        opened = platform.post("/complaints", json=complaint(order_id, "public"))
        assert opened.status_code == 201, opened.text
        cid = opened.json()["complaint_id"]
        assert platform.get(f"/complaints/{cid}").status_code == 200
        assert platform.get("/complaints").status_code == 403
        assert platform.post(f"/complaints/{cid}/respond", json={"response": "x"}).status_code == 403
    with service.client("admin") as admin:
        assert admin.get("/complaints").status_code == 200 and admin.get(f"/complaints/{cid}").status_code == 200
        assert admin.post("/complaints", json=complaint(order_id)).status_code == 403
        assert admin.post(f"/complaints/{cid}/resolve", json={"resolution": "x"}).status_code == 403
    with service.client("warehouse") as warehouse:
        assert warehouse.get("/complaints").status_code == 403
    with service.client("support") as support:
        assert support.post(f"/complaints/{cid}/resolve", json={"resolution": "done"}).status_code == 200


def test_cases_filter_by_order(module_world: World, service) -> None:
    with service.client() as http:
        order_ids = [f"O-{uuid.uuid4().hex[:8]}" for _ in range(2)]
        for order_id in order_ids:
            module_world.publish("logistics.shipments", "shipment.exception",
                                 {"order_id": order_id, "shipment_id": f"S-{order_id}", "kind": "damaged",
                                  "reported_at": OPENED.isoformat()}, key=order_id)
        deadline = time.monotonic() + 30
        while len(http.get("/cases", params={"order_id": order_ids[1]}).json()["cases"]) < 1:
            assert time.monotonic() < deadline, "the exception case was never opened"
            time.sleep(0.1)
        mine = http.get("/cases", params={"order_id": order_ids[0]}).json()["cases"]
        assert [c["order_id"] for c in mine] == [order_ids[0]]
        assert http.get("/cases", params={"order_id": "O-none"}).json()["cases"] == []
        assert_problem(http.get("/cases", params={"order_id": "bad id!"}), 422, "invalid-request")

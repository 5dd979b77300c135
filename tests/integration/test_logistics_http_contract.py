"""The logistics HTTP contract (issue 28): the queue pages with limit + cursor, the creating POSTs
honour Idempotency-Key, every operation documents its answer's schema, and errors are problem
bodies. Against the real service and broker."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.pagination import encode_cursor
from tests.support.openapi import assert_every_answer_has_a_schema
from tests.support.world import World

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
PROBLEM_JSON = "application/problem+json"


def reserved(order_id: str, minute: int) -> dict:
    paid_at = BASE + timedelta(minutes=minute)
    return {
        "order_id": order_id, "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{minute:06d}-{order_id}",
        "lines": [{"sku": "SKU-TEA-01", "quantity": 1, "unit_price": "49.90", "gift": False,
                   "weight_kg": "1.20", "volume_l": "3.00"}],
        "region": "Shanghai", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat(),
    }


def queue_orders(world: World, http: httpx.Client, count: int) -> list[str]:
    """`count` new shipments, queued; their ids."""
    prefix = f"O-{uuid.uuid4().hex[:6]}-"
    order_ids = [f"{prefix}{i:03d}" for i in range(count)]
    for i, order_id in enumerate(order_ids):
        world.publish("inventory.reservations", "stock.reserved", reserved(order_id, i), key=order_id)
    deadline = time.monotonic() + 60
    wanted = {f"SHP-{o}" for o in order_ids}
    while True:
        queued = {s["shipment_id"] for s in http.get("/queue", params={"limit": 5000}).json()["shipments"]}
        if wanted <= queued:
            return [f"SHP-{o}" for o in order_ids]
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(wanted & queued)} of {count} shipments queued")
        time.sleep(0.2)


def assert_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == f"/problems/{kind}"


@pytest.fixture(scope="module")
def service(module_world: World):
    return module_world.start_at("logistics", BASE + timedelta(hours=2))


def test_the_queue_pages_through_every_waiting_shipment_exactly_once(module_world: World, service) -> None:
    with service.client() as http:
        ours = set(queue_orders(module_world, http, 23))
        whole = http.get("/queue", params={"limit": 5000}).json()
        assert whole["next_cursor"] is None
        pages, cursor = [], None
        while True:
            params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
            page = http.get("/queue", params=params).json()
            assert len(page["shipments"]) <= 5
            pages.append(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        walked = [s["shipment_id"] for page in pages for s in page["shipments"]]
        assert len(walked) == len(set(walked)), "a shipment on two pages"
        assert walked == [s["shipment_id"] for s in whole["shipments"]]  # the same wave order
        assert ours <= set(walked) and len(pages) >= 5
        assert all(page["waiting"] == whole["waiting"] for page in pages)  # counts are the queue's, not the page's

        assert_problem(http.get("/queue", params={"cursor": "not-a-cursor!"}), 400, "invalid-cursor")
        assert_problem(http.get("/queue", params={"cursor": "bm9wZQ"}), 400, "invalid-cursor")
        # A well-formed cursor of another list's shape is refused the same way.
        assert_problem(http.get("/queue", params={"cursor": encode_cursor("SHP-1")}), 400, "invalid-cursor")
        assert_problem(http.get("/queue", params={"limit": 0}), 422, "invalid-request")


def test_a_wave_requested_again_with_its_idempotency_key_is_the_same_wave(module_world: World, service) -> None:
    with service.client("warehouse") as http:
        queue_orders(module_world, http, 4)
        before = http.get("/queue", params={"limit": 1}).json()
        key = {"Idempotency-Key": f"wave-{uuid.uuid4()}"}
        first = http.post("/waves", json={"size": 2, "picker_id": "P-idem"}, headers=key)
        again = http.post("/waves", json={"picker_id": "P-idem", "size": 2}, headers=key)  # same request
        assert first.status_code == again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
        assert again.json() == first.json() and first.json()["size"] == 2
        after = http.get("/queue", params={"limit": 1}).json()
        assert after["in_waves"] == before["in_waves"] + 2  # one wave claimed, not two
        assert http.get(f"/waves/{first.json()['wave_id']}").json()["claimed"] == 2

        other = http.post("/waves", json={"size": 3, "picker_id": "P-idem"}, headers=key)
        assert_problem(other, 422, "idempotency-key-reused")
        assert_problem(http.post("/waves", json={"size": 1, "picker_id": "P-idem"},
                                 headers={"Idempotency-Key": "k" * 201}), 400, "invalid-request")
        # Without a key every request is a new wave.
        plain = [http.post("/waves", json={"size": 1, "picker_id": "P-idem"}).json()["wave_id"] for _ in range(2)]
        assert plain[0] != plain[1]


def test_an_exception_reported_again_with_its_idempotency_key_is_recorded_and_published_once(
        module_world: World, service) -> None:
    shipments = module_world.reader("logistics.shipments")
    with service.client("warehouse") as http:
        shipment_id, other_id = queue_orders(module_world, http, 2)
        key = {"Idempotency-Key": f"exc-{uuid.uuid4()}"}
        body = {"kind": "delayed", "note": "storm", "reported_by": "S-1"}
        first = http.post(f"/shipments/{shipment_id}/exception", json=body, headers=key)
        again = http.post(f"/shipments/{shipment_id}/exception", json=body, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
        assert len(http.get(f"/shipments/{shipment_id}").json()["exceptions"]) == 1

        assert_problem(http.post(f"/shipments/{shipment_id}/exception", json=body | {"note": "flood"}, headers=key),
                       422, "idempotency-key-reused")
        assert_problem(http.post(f"/shipments/{other_id}/exception", json=body, headers=key),
                       422, "idempotency-key-reused")  # the same key for another shipment
        assert http.get(f"/shipments/{other_id}").json()["exceptions"] == []
    order_id = shipment_id.removeprefix("SHP-")
    shipments.wait_for(lambda m: m.type == "shipment.exception" and m.data["order_id"] == order_id)
    published = [m for m in shipments.settle(quiet_s=1.0)
                 if m.type == "shipment.exception" and m.data["order_id"] == order_id]
    assert len(published) == 1


def test_every_operation_documents_the_schema_of_its_answer_and_errors_are_problem_bodies(service) -> None:
    with service.client() as http:
        document = http.get("/openapi.json").json()
        assert_every_answer_has_a_schema(document)
        creating = {("post", "/waves"), ("post", "/shipments/{shipment_id}/exception")}
        for method, path in creating:
            names = {p["name"] for p in document["paths"][path][method].get("parameters", [])}
            assert "Idempotency-Key" in names, path

        invalid = http.post("/waves", json={"size": 0, "picker_id": "P-1"})
        assert_problem(invalid, 422, "invalid-request")
        assert "size" in invalid.json()["detail"]
        too_big = http.post("/waves", json={"size": 10_000, "picker_id": "P-1"})
        assert_problem(too_big, 422, "invalid-request")
        assert_problem(http.get("/shipments/SHP-nope"), 404, "not-found")

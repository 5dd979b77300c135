"""The orders service's HTTP contract (issue 28): every list pages with `limit` + `cursor`, POST
/orders honours Idempotency-Key, /openapi.json documents a schema for every answer and body, and
errors are problem documents. Also, through the real broker, the platform's cancel request by
its new name and by its older one."""

from __future__ import annotations

import time
import uuid

import pytest

from services.orders.access import ACCESS
from tests.integration.test_orders_intake import new_id, order_data
from tests.support.world import World

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def orders(module_world: World):
    return module_world.start("orders")


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not in time")


def status_of(orders, order_id: str) -> str | None:
    with orders.client("admin") as http:
        response = http.get(f"/orders/{order_id}")
    return response.json()["status"] if response.status_code == 200 else None


def walk(http, path: str, limit: int, **params) -> list[dict]:
    """Every page of a list, following next_cursor; each page but the last is full."""
    pages, cursor = [], None
    while True:
        response = http.get(path, params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == limit
    assert len(pages) < 100, "the walk does not end"
    return pages


def test_the_order_list_pages_through_every_order_once_in_priority_order(orders) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    placed = [new_id() for _ in range(7)]
    with orders.client("platform") as http:
        for i, order_id in enumerate(placed):
            body = order_data(order_id, customer_id=customer, paid_at=f"2026-11-11T00:00:0{i}Z")
            assert http.post("/orders", json=body).status_code == 202
    wait_until(lambda: all(status_of(orders, o) == "accepted" for o in placed), "orders accepted")

    with orders.client("admin") as http:
        pages = walk(http, "/orders", 3, customer_id=customer)
    listed = [o["order_id"] for page in pages for o in page["items"]]
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    assert listed == placed  # paid one second apart: rank order is the order placed, none twice or missing
    assert pages[-1]["next_cursor"] is None


def test_conflicts_and_rejections_page_with_a_cursor_and_still_read_after_id(module_world: World, orders) -> None:
    events = module_world.reader("orders.events")
    order_id = new_id()
    with orders.client("platform") as http:
        assert http.post("/orders", json=order_data(order_id)).status_code == 202
        wait_until(lambda: status_of(orders, order_id) == "accepted", "order accepted")
        for region in ("Beijing", "Chengdu", "Dalian", "Guangzhou", "Hangzhou"):
            assert http.post("/orders", json=order_data(order_id, region=region)).status_code == 409
    rejected = [new_id() for _ in range(3)]
    for bad in rejected:
        module_world.publish("platform.orders", "order.placed", order_data(bad, currency="USD"), key=bad)
    events.wait_for(lambda m: m.type == "order.rejected" and m.data["order_id"] in rejected, count=3)

    with orders.client("admin") as http:
        pages = walk(http, "/conflicts", 2, order_id=order_id)
        second_by_after_id = http.get("/conflicts", params={"order_id": order_id, "limit": 2,
                                                            "after_id": pages[0]["next_after_id"]}).json()
        rejection_pages = walk(http, "/rejections", 2)
    conflicts = [c for page in pages for c in page["items"]]
    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert [c["content"]["region"] for c in conflicts] == ["Beijing", "Chengdu", "Dalian", "Guangzhou", "Hangzhou"]
    assert len({c["id"] for c in conflicts}) == 5
    assert (pages[-1]["next_cursor"], pages[-1]["next_after_id"]) == (None, None)
    assert second_by_after_id["items"] == pages[1]["items"]  # the older paging reads the same rows
    ids = [r["id"] for page in rejection_pages for r in page["items"]]
    assert len(rejection_pages) >= 2 and ids == sorted(set(ids))
    assert sorted(r["order_id"] for page in rejection_pages for r in page["items"] if r["order_id"] in rejected) \
        == sorted(rejected)


def test_a_cursor_this_api_did_not_hand_out_is_a_400_invalid_cursor_problem(orders) -> None:
    with orders.client("admin") as http:
        order_cursor = http.get("/orders", params={"limit": 1}).json()["next_cursor"]
        answers = [http.get(path, params={"cursor": cursor}) for path in ("/orders", "/conflicts", "/rejections")
                   for cursor in ("!!not-a-cursor!!", "bm90IGpzb24")]  # the latter: base64 of "not json"
        if order_cursor is not None:  # another list's cursor
            answers.append(http.get("/conflicts", params={"cursor": order_cursor}))
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.json()["type"] == "/problems/invalid-cursor"


def test_a_retried_post_with_the_same_idempotency_key_creates_nothing_twice(orders) -> None:
    order_id, key = new_id(), f"key-{uuid.uuid4()}"
    body = order_data(order_id)
    with orders.client("platform", subject="checkout-idem") as http:
        first = http.post("/orders", json=body, headers={"Idempotency-Key": key})
        again = http.post("/orders", json=body, headers={"Idempotency-Key": key})
        other_body = http.post("/orders", json=order_data(order_id, region="Beijing"), headers={"Idempotency-Key": key})
        malformed = http.post("/orders", json=body, headers={"Idempotency-Key": "k" * 201})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and first.json()["status"] == "submitted"
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert other_body.status_code == 422 and other_body.headers["content-type"] == PROBLEM_JSON
    assert other_body.json()["type"] == "/problems/idempotency-key-reused"
    assert malformed.status_code == 400 and malformed.headers["content-type"] == PROBLEM_JSON
    # One order.placed and one submission, however often it was sent.
    [(placed,)] = orders.sql("select count(*) from outbox_message where key = :k and headers_json like :t",
                             k=order_id, t='%"order.placed"%')
    [(submissions,)] = orders.sql("select count(*) from order_submission where order_id = :o", o=order_id)
    assert (placed, submissions) == (1, 1)

    wait_until(lambda: status_of(orders, order_id) == "accepted", "order accepted")
    later = f"key-{uuid.uuid4()}"
    with orders.client("platform", subject="checkout-idem") as http:
        known = [http.post("/orders", json=body, headers={"Idempotency-Key": later}) for _ in range(2)]
    # Keys are the caller's own: another caller's same key is a new request.
    with orders.client("platform", subject="checkout-other") as http:
        elsewhere = http.post("/orders", json=order_data(new_id()), headers={"Idempotency-Key": key})
    assert [r.status_code for r in known] == [200, 200]
    assert known[0].json() == known[1].json() and known[0].json()["status"] == "already_accepted"
    assert known[1].headers.get("Idempotent-Replayed") == "true"
    assert elsewhere.status_code == 202


def test_every_operation_documents_its_answer_and_body_schemas(orders) -> None:
    with orders.anonymous_client() as http:
        doc = http.get("/openapi.json").json()
    operations = {(method.upper(), path): op for path, item in doc["paths"].items() for method, op in item.items()}
    assert set(ACCESS) <= set(operations)
    for (method, path), op in operations.items():
        answers = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert answers, f"{method} {path} documents no 2xx answer"
        for code, answer in answers.items():
            assert any("schema" in media for media in answer.get("content", {}).values()), f"{method} {path} {code}"
        if "requestBody" in op:
            assert all("schema" in media for media in op["requestBody"]["content"].values()), f"{method} {path}"
    placed = operations[("POST", "/orders")]["requestBody"]["content"]["application/json"]["schema"]
    assert placed["$ref"].endswith("/OrderPlaced")
    assert "lines" in doc["components"]["schemas"]["OrderPlaced"]["properties"]


def test_an_invalid_body_is_a_422_problem_in_the_contracts_words(orders) -> None:
    body = order_data(new_id())
    body["lines"][0]["quantity"] = 0
    with orders.client("platform") as http:
        answer = http.post("/orders", json=body)
        unreadable = http.post("/orders", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["type"] == "/problems/invalid-request"
    assert "lines.0.quantity must be positive, got 0" in answer.json()["detail"]
    assert answer.json()["errors"][0]["loc"] == ["body", "lines", "0", "quantity"]
    assert unreadable.status_code == 400 and unreadable.json()["type"] == "/problems/malformed-json"


def test_the_platform_cancels_by_either_name_before_dispatch_and_is_refused_after(module_world: World,
                                                                                  orders) -> None:
    events = module_world.reader("orders.events")
    by_new_name, by_old_name, dispatched = new_id(), new_id(), new_id()
    for order_id in (by_new_name, by_old_name, dispatched):
        module_world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
    events.wait_for(lambda m: m.type == "order.accepted"
                    and m.data["order_id"] in (by_new_name, by_old_name, dispatched), count=3)
    module_world.publish("logistics.shipments", "shipment.dispatched", {
        "order_id": dispatched, "shipment_id": f"S-{dispatched}", "carrier": "SF", "tracking_number": "SF1",
        "dispatched_at": "2026-11-11T01:00:00Z"}, key=dispatched)
    wait_until(lambda: status_of(orders, dispatched) == "shipped", "order shipped")

    module_world.publish("platform.orders", "order.cancellation_requested",
                         {"order_id": by_new_name, "reason": "changed mind"}, key=by_new_name)
    module_world.publish("platform.orders", "order.cancelled", {"order_id": by_old_name, "reason": "unpaid"},
                         key=by_old_name)
    late = module_world.publish("platform.orders", "order.cancellation_requested",
                                {"order_id": dispatched, "reason": "too late"}, key=dispatched)

    cancelled = events.wait_for(lambda m: m.type == "order.cancelled"
                                and m.data["order_id"] in (by_new_name, by_old_name), count=2)
    assert {m.data["order_id"]: m.data["reason"] for m in cancelled} == {by_new_name: "changed mind",
                                                                          by_old_name: "unpaid"}
    assert all(m.data["cancelled_at"] for m in cancelled)
    [refusal] = events.wait_for(lambda m: m.type == "order.cancellation_refused" and m.data["order_id"] == dispatched)
    assert refusal.data["source_event_id"] == late
    assert "can no longer be cancelled" in refusal.data["reason"]
    wait_until(lambda: status_of(orders, by_new_name) == status_of(orders, by_old_name) == "cancelled", "cancelled")
    assert status_of(orders, dispatched) == "shipped"
    assert not [m for m in events.settle(1.0) if m.type == "order.cancelled" and m.data["order_id"] == dispatched]

"""The inventory's HTTP contract (issue 28), against one real service process: every list pages
with `limit` + `cursor` (no row twice, none missing, `next_cursor` null at the end, a forged
cursor a 400 problem), the creating POSTs honour `Idempotency-Key`, and the OpenAPI document
gives every operation a 2xx schema while errors answer `application/problem+json`."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.world import World

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def inventory(module_world: World):
    return module_world.start("inventory", settings={"CLOCK": "settable"})


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def create_skus(inventory, prefix: str, count: int, *, on_hand: int, planned: int = 100) -> list[str]:
    skus = [f"{prefix}-{n:03d}" for n in range(count)]
    with inventory.client("admin") as http:
        for sku in skus:
            response = http.put(f"/skus/{sku}", json={"tier": "hot", "planned_stock": planned, "on_hand": on_hand})
            assert response.status_code == 200, response.text
    return skus


def walk(http: httpx.Client, path: str, key: str, limit: int) -> tuple[list[dict], int]:
    """Every row of a list, a page at a time: (rows, pages)."""
    rows: list[dict] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body[key]) <= limit
        rows += body[key]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages
        assert pages < 1000, "the cursor never ends"


def test_stock_pages_cover_every_sku_once_in_name_order(inventory) -> None:
    prefix = new_id("PG")
    skus = create_skus(inventory, prefix, 23, on_hand=50)
    with inventory.client("warehouse") as http:
        rows, pages = walk(http, "/stock", "skus", limit=5)
        first = http.get("/stock", params={"limit": 5}).json()
    names = [row["sku"] for row in rows]
    assert len(names) == len(set(names))  # no sku twice
    assert set(skus) <= set(names)  # none missing
    assert names == sorted(names)
    assert pages >= 5
    assert first["as_of"] and len(first["skus"]) == 5 and first["next_cursor"]
    # Each sku's figures, as the single-sku route gives them.
    assert next(r for r in rows if r["sku"] == skus[0])["on_hand"] == 50


def test_low_stock_pages_skip_the_skus_that_are_not_low(inventory) -> None:
    prefix = new_id("LOW")
    low = create_skus(inventory, f"{prefix}-A", 11, on_hand=5)  # 5 < 20% of 100
    plenty = create_skus(inventory, f"{prefix}-B", 7, on_hand=90)
    with inventory.client("warehouse") as http:
        rows, pages = walk(http, "/stock/low", "skus", limit=3)
    names = [row["sku"] for row in rows]
    assert len(names) == len(set(names))
    assert set(low) <= set(names) and not set(plenty) & set(names)
    assert all(row["low"] for row in rows)
    assert pages >= 4


def test_ledger_pages_are_the_whole_ledger_in_order(inventory) -> None:
    [sku] = create_skus(inventory, new_id("LED"), 1, on_hand=10)
    with inventory.client("warehouse") as http:
        for n in range(12):
            response = http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": sku, "quantity": n + 1})
            assert response.status_code == 201, response.text
        rows, pages = walk(http, f"/ledger/{sku}", "entries", limit=4)
        everything = http.get(f"/ledger/{sku}").json()
    assert [(r["cause"], r["on_hand_delta"]) for r in rows] == [("initial_stock", 10)] + [
        ("delivery", n + 1) for n in range(12)]
    assert pages == 4 and everything["next_cursor"] is None and everything["entries"] == rows
    assert everything["consistent"] and everything["ledger_on_hand"] == everything["on_hand"] == 10 + 78


@pytest.mark.parametrize("path", ["/stock", "/stock/low", "/ledger/{sku}"])
def test_a_cursor_the_api_did_not_hand_out_is_a_400_problem(inventory, path: str) -> None:
    [sku] = create_skus(inventory, new_id("CUR"), 1, on_hand=1)
    with inventory.client("warehouse") as http:
        for cursor in ("garbage!", "bm90LWpzb24", "WyJhIiwiYiJd"):  # not base64url, not JSON, two values
            response = http.get(path.format(sku=sku), params={"cursor": cursor})
            assert response.status_code == 400, (cursor, response.text)
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
            assert response.json()["type"] == "/problems/invalid-cursor"
        # A cursor of another list (a sku name where the ledger wants an entry id) is refused too.
        stock_cursor = http.get("/stock", params={"limit": 1}).json()["next_cursor"]
        response = http.get(f"/ledger/{sku}", params={"cursor": stock_cursor})
        assert response.status_code == 400 and response.json()["type"] == "/problems/invalid-cursor"


def test_a_retried_delivery_with_its_key_is_booked_once_and_gets_the_first_answer(inventory) -> None:
    [sku] = create_skus(inventory, new_id("IDEM"), 1, on_hand=10)
    key = str(uuid.uuid4())
    body = {"delivery_id": new_id("D"), "sku": sku, "quantity": 5}
    with inventory.client("warehouse", subject="dock-1") as http:
        first = http.post("/deliveries", json=body, headers={"Idempotency-Key": key})
        again = http.post("/deliveries", json=body, headers={"Idempotency-Key": key})
        other = http.post("/deliveries", json={**body, "quantity": 6}, headers={"Idempotency-Key": key})
        ledger = http.get(f"/ledger/{sku}").json()
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json() == again.json() and first.json()["outcome"] == "received" and first.json()["on_hand"] == 15
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert other.status_code == 422 and other.headers["content-type"].startswith(PROBLEM_JSON)
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert [e["cause"] for e in ledger["entries"]] == ["initial_stock", "delivery"] and ledger["on_hand"] == 15
    # Without a key the delivery id still counts once; the answer says so.
    with inventory.client("warehouse") as http:
        assert http.post("/deliveries", json=body).json()["outcome"] == "duplicate"


def test_a_retried_count_with_its_key_is_booked_once_and_gets_the_first_answer(inventory) -> None:
    [sku] = create_skus(inventory, new_id("IDEM"), 1, on_hand=10)
    key = str(uuid.uuid4())
    body = {"counts": [{"sku": sku, "quantity": 8}]}  # no reference: the first answer's is kept
    with inventory.client("warehouse") as http:
        first = http.post("/counts", json=body, headers={"Idempotency-Key": key})
        again = http.post("/counts", json=body, headers={"Idempotency-Key": key})
        other = http.post("/counts", json={"counts": [{"sku": sku, "quantity": 7}]}, headers={"Idempotency-Key": key})
        ledger = http.get(f"/ledger/{sku}").json()
        # Another caller's same key is its own.
    with inventory.client("warehouse", subject="someone-else") as http:
        theirs = http.post("/counts", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json() == again.json() and first.json()["reference"].startswith("COUNT-")
    assert first.json()["lines"] == [{"sku": sku, "recorded_on_hand": 10, "ledger_on_hand": 10, "counted": 8,
                                      "difference": -2, "adjusted": True}]
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    assert [(e["cause"], e["on_hand_delta"]) for e in ledger["entries"]] == [("initial_stock", 10),
                                                                           ("count_adjustment", -2)]
    assert theirs.status_code == 200 and theirs.json()["reference"] != first.json()["reference"]
    assert theirs.json()["lines"][0]["difference"] == 0  # counted again: already 8


def test_a_malformed_idempotency_key_is_a_400(inventory) -> None:
    with inventory.client("warehouse") as http:
        response = http.post("/counts", json={"counts": [{"sku": "X", "quantity": 1}]},
                             headers={"Idempotency-Key": "x" * 201})
    assert response.status_code == 400 and response.headers["content-type"].startswith(PROBLEM_JSON)


def test_every_operation_documents_a_2xx_schema_and_errors_are_problems(inventory) -> None:
    with inventory.anonymous_client() as http:
        doc = http.get("/openapi.json").json()
    missing = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            ok = {code: answer for code, answer in operation["responses"].items() if code.startswith("2")}
            schemas = [media.get("schema") for answer in ok.values() for media in answer.get("content", {}).values()]
            if not ok or not any(schemas):
                missing.append(f"{method.upper()} {path}")
    assert not missing, missing
    # The inventory's own answers are named models, not free-form objects.
    for path in ("/stock", "/stock/low", "/stock/{sku}", "/ledger/{sku}", "/reservations/{order_id}"):
        assert "$ref" in doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    for path, method, code in (("/skus/{sku}", "put", "200"), ("/counts", "post", "200"),
                               ("/deliveries", "post", "201")):
        operation = doc["paths"][path][method]
        assert "$ref" in operation["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" in operation["responses"][code]["content"]["application/json"]["schema"]
    for path in ("/stock", "/stock/low", "/ledger/{sku}"):
        names = {p["name"] for p in doc["paths"][path]["get"]["parameters"]}
        assert {"limit", "cursor"} <= names, path
    for path in ("/counts", "/deliveries"):
        names = {p["name"] for p in doc["paths"][path]["post"]["parameters"]}
        assert "Idempotency-Key" in names, path

    with inventory.client("warehouse") as http:
        refused = http.post("/deliveries", json={"delivery_id": new_id("D"), "sku": "X", "quantity": 2.5})
        unknown = http.post("/counts", json={"counts": [{"sku": new_id("NOPE"), "quantity": 1}]})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert refused.json()["type"] == "/problems/invalid-request" and "quantity" in refused.json()["detail"]
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(PROBLEM_JSON)
    assert unknown.json()["type"] == "/problems/not-found"


def test_times_keep_their_offset_and_reservations_answer_their_model(inventory) -> None:
    [sku] = create_skus(inventory, new_id("TIME"), 1, on_hand=5, planned=100)  # low: a request is open
    with inventory.client("warehouse") as http:
        figures = http.get(f"/stock/{sku}").json()
        ledger = http.get(f"/ledger/{sku}").json()
        missing = http.get(f"/reservations/{new_id('O')}")
    assert figures["open_replenishment"]["requested_at"].endswith("+00:00")
    assert ledger["entries"][0]["at"].endswith("+00:00")
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"

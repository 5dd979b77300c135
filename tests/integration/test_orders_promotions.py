"""Promotions checked against the event's catalogue (R5), through the real broker: for each kind,
an order with the right discount accepted and one with a wrong discount rejected with the
expected amount on order.rejected; a reused first-order coupon and an unearned gift rejected;
the half-price quota counting accepted orders only; the catalogue set over HTTP (admin only,
validated, kept across a restart) and from a file at start-up."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.test_orders_intake import new_id
from tests.support.kafka import Message, TopicReader
from tests.support.world import World

pytestmark = pytest.mark.integration

CATALOGUE = {"promotions": [
    {"kind": "spend_threshold", "code": "FULL100-10", "description": "满100减10", "threshold": "100.00", "amount": "10.00"},
    {"kind": "spend_threshold", "code": "FULL200-30", "description": "满200减30", "threshold": "200.00", "amount": "30.00"},
    {"kind": "returning_customer_threshold", "code": "BACK150-20", "threshold": "150.00", "amount": "20.00"},
    {"kind": "tiered_discount", "code": "3TEA-20", "skus": ["SKU-TEA"], "min_items": 3, "percent": "20"},
    {"kind": "first_order_coupon", "code": "NEW10", "amount": "10.00"},
    {"kind": "gift_with_purchase", "code": "GIFT-CUP", "gift_sku": "SKU-CUP", "trigger_sku": "SKU-TEA",
     "min_quantity": 2},
    {"kind": "first_units_half_price", "code": "HALF-SET", "sku": "SKU-SET", "units": 1000},
    {"kind": "first_units_half_price", "code": "HALF-KETTLE", "sku": "SKU-KETTLE", "units": 2},
]}
KINDS = {e["code"]: e["kind"] for e in CATALOGUE["promotions"]}


def line(sku: str, quantity: int, price: str, gift: bool = False) -> dict:
    return {"sku": sku, "quantity": quantity, "unit_price": price, "gift": gift}


def placed(lines: list[dict], promotions: dict[str, str] | None = None, *, order_id: str | None = None,
           customer_id: str | None = None, first_order: bool = False, discount: str | None = None) -> dict:
    """An order.placed's data; `promotions` code -> the amount claimed; paid = lines - discount."""
    promotions = promotions or {}
    total = sum(Decimal(x["unit_price"]) * x["quantity"] for x in lines)
    claimed = Decimal(discount) if discount is not None else sum((Decimal(a) for a in promotions.values()), Decimal(0))
    return {
        "order_id": order_id or new_id(), "customer_id": customer_id or f"C-{uuid.uuid4().hex[:8]}",
        "order_type": "standard", "lines": lines, "discount": f"{claimed:.2f}", "paid_amount": f"{total - claimed:.2f}",
        "paid_at": "2026-11-11T00:00:03Z", "region": "Shanghai", "currency": "CNY", "first_order": first_order,
        "promotions": [{"kind": KINDS.get(code, "spend_threshold"), "code": code, "amount": amount}
                       for code, amount in promotions.items()],
    }


def outcome(events: TopicReader, order_id: str) -> Message:
    [answer] = events.wait_for(lambda m: m.type in ("order.accepted", "order.rejected")
                               and m.data["order_id"] == order_id)
    return answer


def place_all(world: World, events: TopicReader, *orders: dict) -> list[Message]:
    for data in orders:
        world.publish("platform.orders", "order.placed", data, key=data["order_id"])
    return [outcome(events, data["order_id"]) for data in orders]


@pytest.fixture(scope="module")
def orders(module_world: World, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("promotions") / "promotions.json"
    path.write_text(json.dumps(CATALOGUE, ensure_ascii=False))
    return module_world.start("orders", settings={"PROMOTIONS_FILE": str(path)})


@pytest.fixture(scope="module")
def events(module_world: World) -> TopicReader:
    return module_world.reader("orders.events")


# kind -> (lines, promotions claimed rightly, first_order, the wrong claim, the reason for it)
KIND_CASES = {
    "spend_threshold": ([line("SKU-A", 1, "250.00")], {"FULL200-30": "30.00"}, False, {"FULL200-30": "25.00"},
                        "promotion FULL200-30: expected discount 30.00, the order says 25.00"),
    "returning_customer_threshold": ([line("SKU-A", 1, "160.00")], {"BACK150-20": "20.00", "FULL100-10": "10.00"}, False,
                                     {"BACK150-20": "25.00", "FULL100-10": "10.00"},
                                     "promotion BACK150-20: expected discount 20.00, the order says 25.00"),
    "tiered_discount": ([line("SKU-TEA", 3, "49.90")], {"3TEA-20": "29.94"}, False, {"3TEA-20": "30.00"},
                        "promotion 3TEA-20: expected discount 29.94, the order says 30.00"),
    "first_order_coupon": ([line("SKU-A", 1, "50.00")], {"NEW10": "10.00"}, True, {"NEW10": "15.00"},
                           "promotion NEW10: expected discount 10.00, the order says 15.00"),
    "gift_with_purchase": ([line("SKU-TEA", 2, "10.00"), line("SKU-CUP", 1, "15.00", gift=True)], {"GIFT-CUP": "15.00"},
                           False, {"GIFT-CUP": "0.00"}, "promotion GIFT-CUP: expected discount 15.00, the order says 0.00"),
    "first_units_half_price": ([line("SKU-SET", 1, "599.00")], {"HALF-SET": "299.50"}, False, {"HALF-SET": "300.00"},
                               "promotion HALF-SET: expected discount 299.50, the order says 300.00"),
}


@pytest.mark.parametrize("kind", list(KIND_CASES))
def test_each_kind_the_right_discount_is_accepted_and_a_wrong_one_rejected_with_the_expected_amount(
        module_world: World, orders, events: TopicReader, kind: str) -> None:
    lines, right, first_order, wrong, reason = KIND_CASES[kind]
    dlq = module_world.reader("platform.orders.dlq")
    good, bad = placed(lines, right, first_order=first_order), placed(lines, wrong, first_order=first_order)

    accepted, rejected = place_all(module_world, events, good, bad)

    assert accepted.type == "order.accepted", accepted.data
    assert accepted.data["discount"] == good["discount"] and accepted.data["paid_amount"] == good["paid_amount"]
    assert [(p["code"], p["amount"]) for p in accepted.data["promotions"]] == list(right.items())
    assert rejected.type == "order.rejected" and rejected.data["reason"] == reason
    [letter] = dlq.wait_for(lambda m: m.key == bad["order_id"])  # the original kept, with the reason
    assert letter.headers["dlq.reason"] == reason
    with orders.client() as http:
        kept = http.get(f"/orders/{bad['order_id']}").json()
    assert (kept["status"], kept["reason"]) == ("rejected", reason)


def test_a_reused_first_order_coupon_is_rejected_with_that_reason(module_world: World, orders, events) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    first = placed([line("SKU-A", 1, "50.00")], {"NEW10": "10.00"}, customer_id=customer, first_order=True)
    # The platform says first_order again: the coupon's own record says otherwise.
    again = placed([line("SKU-A", 1, "80.00")], {"NEW10": "10.00"}, customer_id=customer, first_order=True)

    accepted, = place_all(module_world, events, first)
    rejected, = place_all(module_world, events, again)

    assert accepted.type == "order.accepted"
    assert rejected.type == "order.rejected"
    assert rejected.data["reason"] == (f"promotion NEW10: first-order coupon already used by customer {customer} "
                                       f"(order {first['order_id']}); once per customer")


def test_an_unearned_gift_is_rejected(module_world: World, orders, events) -> None:
    one_tea = placed([line("SKU-TEA", 1, "10.00"), line("SKU-CUP", 1, "0.00", gift=True)], {"GIFT-CUP": "0.00"})
    unnamed = placed([line("SKU-TEA", 2, "10.00"), line("SKU-CUP", 1, "0.00", gift=True)])

    short, bare = place_all(module_world, events, one_tea, unnamed)

    assert short.type == bare.type == "order.rejected"
    assert short.data["reason"] == ("gift line lines.1 (SKU-CUP x1) was not earned by a gift-with-purchase promotion "
                                    "of this order (GIFT-CUP needs 2 x SKU-TEA; the order has 1)")
    assert bare.data["reason"] == ("gift line lines.1 (SKU-CUP x1) was not earned by a gift-with-purchase promotion "
                                   "of this order")


def test_a_discount_without_promotions_and_codes_not_in_the_catalogue_are_rejected(
        module_world: World, orders, events) -> None:
    lines = [line("SKU-A", 1, "250.00")]
    no_promotion = placed(lines, discount="30.00")
    letter_o = placed(lines, {"FULL2O0-30": "30.00"})  # a capital O for a zero
    cyrillic = placed(lines, {"FULL200-3\u041e": "30.00"})  # a Cyrillic O

    answers = place_all(module_world, events, no_promotion, letter_o, cyrillic)

    assert [a.type for a in answers] == ["order.rejected"] * 3
    assert answers[0].data["reason"].startswith("discount 30.00 but the order names no promotion")
    assert answers[1].data["reason"] == "promotion FULL2O0-30 is not in the event's catalogue"
    assert answers[2].data["reason"] == ("promotion FULL200-3\u041e is not in the event's catalogue (it has U+041E "
                                         "CYRILLIC CAPITAL LETTER O at position 9: codes are ASCII)")


def test_half_price_units_are_counted_for_accepted_orders_only(module_world: World, orders, events) -> None:
    kettle = [line("SKU-KETTLE", 1, "199.99")]
    first = placed(kettle, {"HALF-KETTLE": "100.00"})  # 99.995 rounds half up
    wrong = placed(kettle, {"HALF-KETTLE": "99.99"})  # rejected: takes nothing from the quota
    two = placed([line("SKU-KETTLE", 2, "199.99")], {"HALF-KETTLE": "100.00"})  # only 1 of 2 left
    late = placed(kettle, {"HALF-KETTLE": "100.00"})

    answers = place_all(module_world, events, first, wrong)
    answers += place_all(module_world, events, two)
    answers += place_all(module_world, events, late)

    assert [a.type for a in answers] == ["order.accepted", "order.rejected", "order.accepted", "order.rejected"]
    assert answers[1].data["reason"] == "promotion HALF-KETTLE: expected discount 100.00, the order says 99.99"
    assert answers[3].data["reason"] == (
        "promotion HALF-KETTLE: expected discount 0.00, the order says 100.00 (0 of the order's 1 x SKU-KETTLE are "
        "within the first 2 (2 sold before))")
    with orders.client("support") as http:
        catalogue = http.get("/promotions").json()
    assert catalogue["half_price_sold"]["HALF-KETTLE"] == 2
    assert catalogue["checked"] is True and catalogue["source"].startswith("file:")


def test_the_same_order_id_again_with_other_promotions_is_a_conflict_and_uses_nothing_twice(
        module_world: World, orders, events) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    order_id = new_id()
    lines = [line("SKU-A", 1, "250.00")]
    original = placed(lines, {"NEW10": "10.00"}, order_id=order_id, customer_id=customer, first_order=True)
    other = placed(lines, {"NEW10": "10.00", "FULL200-30": "30.00"}, order_id=order_id, customer_id=customer,
                   first_order=True)

    accepted, = place_all(module_world, events, original)
    module_world.publish("platform.orders", "order.placed", original, key=order_id)  # the same again: harmless
    module_world.publish("platform.orders", "order.placed", other, key=order_id)

    [refusal] = events.wait_for(lambda m: m.type == "order.rejected" and m.data["order_id"] == order_id)
    assert accepted.type == "order.accepted"
    assert refusal.data["reason"].startswith(f"conflict: order {order_id} was already accepted with different content")
    assert "discount: 10.00 -> 40.00" in refusal.data["reason"]
    events.settle(1.0)
    assert len([m for m in events.seen if m.data.get("order_id") == order_id]) == 2  # accepted, then the conflict
    assert orders.sql("SELECT order_id FROM order_coupon_use WHERE customer_id = :c", c=customer) == [(order_id,)]


def test_post_orders_answers_a_wrong_discount_with_a_422_and_the_same_reason(orders) -> None:
    body = placed([line("SKU-A", 1, "250.00")], {"FULL200-30": "20.00"})
    with orders.client("platform") as http:
        answer = http.post("/orders", json=body)
    assert answer.status_code == 422 and answer.json()["type"] == "/problems/invalid-request"
    assert answer.json()["detail"] == "promotion FULL200-30: expected discount 30.00, the order says 20.00"


def test_two_orders_of_one_customer_at_once_on_two_instances_get_the_coupon_once(
        module_world: World, orders, events, tmp_path: Path) -> None:
    module_world.start("orders", instance="2")  # the same database, the partitions shared out
    customers = [f"C-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    pairs = [placed([line("SKU-A", 1, "50.00")], {"NEW10": "10.00"}, customer_id=c, first_order=True)
             for c in customers for _ in range(2)]

    answers = place_all(module_world, events, *pairs)

    for customer in customers:
        mine = [a for a, data in zip(answers, pairs) if data["customer_id"] == customer]
        assert sorted(a.type for a in mine) == ["order.accepted", "order.rejected"], [a.data for a in mine]
        [refused] = [a for a in mine if a.type == "order.rejected"]
        assert "first-order coupon already used by customer " + customer in refused.data["reason"]
    assert len(orders.sql("SELECT customer_id FROM order_coupon_use WHERE code = 'NEW10'")) >= len(customers)


# ---------------------------------------------------------------------------------------------
# The catalogue over HTTP


def _entries(n: int) -> list[dict]:
    return [{"kind": "first_order_coupon", "code": f"C{i:05d}", "amount": "1.00"} for i in range(n)]


# name -> (body, status, a fragment of the problem's detail)
BAD_BODIES = {
    "30 decimals": ({"promotions": [{**CATALOGUE["promotions"][0], "threshold": "100." + "0" * 29 + "1"}]}, 422,
                    "promotions.0.spend_threshold.threshold: Value error, amount has more than two decimal places"),
    "negative threshold": ({"promotions": [{**CATALOGUE["promotions"][0], "threshold": "-100.00"}]}, 422,
                           "threshold must not be negative"),
    "huge threshold": ({"promotions": [{**CATALOGUE["promotions"][0], "threshold": "1" + "0" * 40}]}, 422,
                       "threshold: Value error, amount is too large"),
    "threshold past the limit": ({"promotions": [{**CATALOGUE["promotions"][0], "threshold": "100000000.01"}]}, 422,
                                 "threshold must be at most 100000000.00"),
    "more off than the threshold": ({"promotions": [{**CATALOGUE["promotions"][0], "amount": "150.00"}]}, 422,
                                    "amount 150.00 is more than its threshold 100.00"),
    "float percent": ({"promotions": [{**CATALOGUE["promotions"][3], "percent": 20.5}]}, 422, "plain decimal string"),
    "look-alike code": ({"promotions": [{**CATALOGUE["promotions"][4], "code": "N\u0415W10"}]}, 422,
                        "U+0415 CYRILLIC CAPITAL LETTER IE"),
    "codes apart only by case": ({"promotions": [CATALOGUE["promotions"][4], {**CATALOGUE["promotions"][4],
                                                                              "code": "new10"}]}, 422,
                                 "code new10 is listed twice (as NEW10)"),
    "501 entries": ({"promotions": _entries(501)}, 422, "promotions must have at most 500 items, got 501"),
    "10,000 entries": ({"promotions": _entries(10_000)}, 413, ""),
    "no promotions field": ({}, 422, "promotions: Field required"),
    "unknown kind": ({"promotions": [{"kind": "buy_one_get_two", "code": "B"}]}, 422, "buy_one_get_two"),
}


def test_put_promotions_as_admin_sets_the_catalogue_for_every_order_after_it_and_a_restart_keeps_it(
        world: World, tmp_path: Path) -> None:
    orders = world.start("orders")
    events = world.reader("orders.events")
    lines = [line("SKU-A", 1, "250.00")]
    with orders.client("platform") as http:
        unset = http.get("/promotions").json()
    assert (unset["checked"], unset["promotions"]) == (False, [])
    # No catalogue yet: as before promotions had one, paid = lines - discount is all that is checked.
    [before] = place_all(world, events, placed(lines, discount="30.00"))
    assert before.type == "order.accepted"

    with orders.client("platform") as http:
        refused = http.put("/promotions", json=CATALOGUE)
    with orders.client("admin", subject="ops-lead") as http:
        answer = http.put("/promotions", json=CATALOGUE)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/forbidden"
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["checked"] is True and body["source"] == "http" and "ops-lead" in body["set_by"]
    assert [e["code"] for e in body["promotions"]] == list(KINDS)
    assert body["half_price_sold"] == {"HALF-KETTLE": 0, "HALF-SET": 0}
    with orders.client("support") as http:
        assert http.get("/promotions").json()["digest"] == body["digest"]
    with orders.client("warehouse") as http:
        assert http.get("/promotions").status_code == 403

    after, right = place_all(world, events, placed(lines, discount="30.00"), placed(lines, {"FULL200-30": "30.00"}))
    assert after.type == "order.rejected" and after.data["reason"].startswith("discount 30.00 but the order names")
    assert right.type == "order.accepted"

    with orders.client("admin") as http:
        for name, (bad, status, fragment) in BAD_BODIES.items():
            problem = http.put("/promotions", json=bad)
            assert problem.status_code == status, (name, problem.text[:300])
            assert problem.headers["content-type"] == "application/problem+json", name
            assert fragment in problem.json()["detail"], (name, problem.json()["detail"][:300])
        assert http.get("/promotions").json()["digest"] == body["digest"]  # nothing changed

    # A restart with a file keeps what an admin PUT: the file does not undo it.
    orders.stop()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"promotions": CATALOGUE["promotions"][:1]}))
    again = world.start("orders", settings={"PROMOTIONS_FILE": str(other)})
    with again.client("admin") as http:
        kept = http.get("/promotions").json()
    assert kept["digest"] == body["digest"] and kept["source"] == "http"


def test_a_promotions_file_that_breaks_the_rules_stops_the_start_with_the_reason(world: World, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"promotions": [{**CATALOGUE["promotions"][1], "amount": "300.00"}]}))
    with pytest.raises(RuntimeError) as exc:
        world.start("orders", settings={"PROMOTIONS_FILE": str(bad)})
    assert "ORDERS_PROMOTIONS_FILE" in str(exc.value) and "amount 300.00 is more than its threshold 200.00" in str(exc.value)

"""Holds through the orders use cases on a real SQLite database (no broker): the counts the rules
read, orders of one customer in one transaction (a consumer batch), release once, cancel, an
unknown sku needing attention, and the rules in force. The same through the real broker:
tests/integration/test_orders_holds.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from services.orders import usecases
from services.orders.abuse import AbuseRules, OrderBurst, PurchaseLimit, SharedAddress, ThresholdReturns
from services.orders.domain import OrderPolicy
from services.orders.store import holds as holds_store
from services.orders.usecases import holds
from shared.clock import SettableClock
from shared.db import make_engine, transaction
from shared.envelope import decode_envelope
from shared.events import OrderPlaced, ReturnRequested, StockSkuUnknown
from shared.messaging import Outbox, OutboxMessage
from shared.migrations import upgrade
from shared.pagination import PageRequest, decode_cursor
from shared.unit_of_work import Actor, UnitOfWork

NOW = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
POLICY = OrderPolicy(high_value_threshold=Decimal("1000.00"), accepted_currencies=frozenset({"CNY"}))
SUPPORT = Actor("http", "agent-3", roles=("support",))


class Orders:
    """The orders service's database and use cases, its clock set by hand."""

    def __init__(self, tmp_path, rules: AbuseRules | None) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'orders.db'}")
        upgrade(self.engine, "orders")
        self.clock = SettableClock(NOW)
        self.outbox = Outbox(source="orders", topic_prefix="", clock=self.clock)
        if rules is not None:
            with self.uow(Actor("rules", "test")) as uow:
                holds.load_rules_at_start(uow, rules, "file:test.json")

    def uow(self, actor: Actor | None = None):
        engine, outbox, clock = self.engine, self.outbox, self.clock

        class _Work:
            def __enter__(self) -> UnitOfWork:
                self._tx = transaction(engine)
                session = self._tx.__enter__()
                return UnitOfWork(session, outbox, clock, actor=actor or Actor("kafka", "platform.orders"))

            def __exit__(self, *exc) -> None:
                self._tx.__exit__(*exc)

        return _Work()

    def place(self, *orders: OrderPlaced) -> list[str]:
        """In one transaction, as one consumer batch applies them."""
        with self.uow() as uow:
            return [usecases.place_order(uow, order, policy=POLICY) for order in orders]

    def events(self, type_: str | None = None) -> list[tuple[str, dict]]:
        with transaction(self.engine) as session:
            rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        found = [(e.type, e.data) for e in (decode_envelope(r.value) for r in rows)]
        return [(t, d) for t, d in found if type_ is None or t == type_]

    def status(self, order_id: str) -> str:
        with transaction(self.engine) as session:
            return usecases.order_view(session, order_id).status


def placed(order_id: str, *, customer: str = "C-1", sku: str = "SKU-PHONE", quantity: int = 1,
           price: str = "10.00", address: str | None = None) -> OrderPlaced:
    total = Decimal(price) * quantity
    return OrderPlaced.model_validate({
        "order_id": order_id, "customer_id": customer, "order_type": "standard",
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": price}], "paid_amount": f"{total:.2f}",
        "paid_at": "2026-11-11T00:00:00Z", "region": "Shanghai", "currency": "CNY", "delivery_address": address})


LIMIT_2 = AbuseRules(purchase_limits=[PurchaseLimit(sku="SKU-PHONE", limit=2)])


def test_orders_of_one_customer_in_one_batch_count_each_other_at_the_limits_edge(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    outcomes = orders.place(*(placed(f"O-{n}") for n in range(5)), placed("O-OTHER", customer="C-2", quantity=2))
    assert outcomes == ["accepted"] * 6
    assert [orders.status(f"O-{n}") for n in range(5)] == ["accepted", "accepted", "held", "held", "held"]
    assert orders.status("O-OTHER") == "accepted"  # another customer's units are their own
    held = orders.events("order.held")
    assert [d["order_id"] for _, d in held] == ["O-2", "O-3", "O-4"]
    assert held[0][1]["figures"] == {"sku": "SKU-PHONE", "bought_before": "2", "this_order": "1", "total": "3",
                                     "limit": "2"}
    # Held orders count too: a customer cannot slip units past the limit while others wait.
    assert held[2][1]["figures"]["bought_before"] == "4"
    assert [d["order_id"] for _, d in orders.events("order.accepted")] == ["O-0", "O-1", "O-OTHER"]


def test_a_cancelled_order_gives_its_units_back_to_the_limit(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    orders.place(placed("O-A", quantity=2))
    with orders.uow(SUPPORT) as uow:
        assert usecases.cancel_order(uow, usecases.CancelOrder("O-A")).outcome == "cancelled"
    orders.place(placed("O-B", quantity=2))
    assert orders.status("O-B") == "accepted"


def test_units_bought_before_a_flash_sales_start_do_not_count(tmp_path) -> None:
    orders = Orders(tmp_path, AbuseRules(purchase_limits=[PurchaseLimit(sku="SKU-PHONE", limit=2,
                                                                        since=NOW + timedelta(minutes=1))]))
    orders.place(placed("O-EARLY", quantity=2))
    orders.clock.set(NOW + timedelta(minutes=1))  # the sale's start itself counts
    orders.place(placed("O-START", quantity=2), placed("O-NEXT", quantity=1))
    assert [orders.status(o) for o in ("O-EARLY", "O-START", "O-NEXT")] == ["accepted", "accepted", "held"]


def test_release_publishes_released_then_the_very_acceptance_once(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    orders.place(placed("O-1", quantity=3))
    [(_, held)] = orders.events("order.held")
    orders.clock.advance(timedelta(minutes=7))
    with orders.uow(SUPPORT) as uow:
        first = holds.release_hold(uow, holds.ReleaseHold("O-1", "customer verified by phone"))
    with orders.uow(SUPPORT) as uow:
        second = holds.release_hold(uow, holds.ReleaseHold("O-1", "again"))
    assert (first.outcome, first.status) == ("released", "accepted")
    assert (second.outcome, second.status) == ("already_released", "accepted")
    kinds = [t for t, _ in orders.events()]
    assert kinds == ["order.held", "order.released", "order.accepted"]
    [(_, released)] = orders.events("order.released")
    assert released["released_by"] == "agent-3" and released["note"] == "customer verified by phone"
    [(_, accepted)] = orders.events("order.accepted")
    with transaction(orders.engine) as session:
        view = usecases.order_view(session, "O-1")
    assert accepted["priority_rank"] == view.priority_rank and accepted["priority_class"] == "standard"
    assert datetime.fromisoformat(accepted["accepted_at"]) == NOW + timedelta(minutes=7)
    assert view.status == "accepted" and view.hold is not None and view.hold.released_by == "http:agent-3(support)"
    assert [s.status for s in view.timeline] == ["held", "accepted"]
    assert held["rule"] == "purchase_limit" and "limit is 2 per customer" in held["reason"]


def test_release_refuses_what_is_unknown_or_not_held(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    orders.place(placed("O-FINE"))
    with orders.uow(SUPPORT) as uow:
        assert holds.release_hold(uow, holds.ReleaseHold("O-NONE")).outcome == "unknown"
        refused = holds.release_hold(uow, holds.ReleaseHold("O-FINE"))
    assert refused.outcome == "not_held" and "O-FINE is accepted, not held" in refused.reason
    assert orders.events("order.released") == []


def test_a_cancelled_hold_cannot_be_released_and_publishes_only_its_cancellation(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    orders.place(placed("O-1", quantity=3))
    with orders.uow(SUPPORT) as uow:
        assert usecases.cancel_order(uow, usecases.CancelOrder("O-1", "brushing")).outcome == "cancelled"
    with orders.uow(SUPPORT) as uow:
        assert holds.release_hold(uow, holds.ReleaseHold("O-1")).outcome == "not_held"
    assert [t for t, _ in orders.events()] == ["order.held", "order.cancelled"]
    with transaction(orders.engine) as session:
        assert holds.open_holds(session, PageRequest(50, None), kind=None).items == []


def test_customer_and_address_bursts_count_orders_within_the_window_only(tmp_path) -> None:
    orders = Orders(tmp_path, AbuseRules(customer_orders=OrderBurst(max_orders=2, minutes=10),
                                         address_orders=OrderBurst(max_orders=3, minutes=10),
                                         address_customers=SharedAddress(max_customers=2, minutes=60)))
    orders.place(placed("O-1"), placed("O-2"))
    orders.clock.advance(timedelta(minutes=10))  # O-1 and O-2 are exactly 10 minutes old: still inside
    orders.place(placed("O-3"))
    orders.clock.advance(timedelta(microseconds=1))  # now they are outside; O-3 alone is inside
    orders.place(placed("O-4"))
    assert [orders.status(f"O-{n}") for n in range(1, 5)] == ["accepted", "accepted", "held", "accepted"]
    # One address: a second customer is fine, a third is one too many; full-width spelling is the same address.
    orders.place(placed("A-1", customer="C-7", address="Room 5"), placed("A-2", customer="C-8", address="ＲＯＯＭ ５"),
                 placed("A-3", customer="C-9", address="room  5"))
    assert [orders.status(f"A-{n}") for n in (1, 2, 3)] == ["accepted", "accepted", "held"]
    [_, (_, third)] = orders.events("order.held")
    assert third["rule"] == "address_customers" and third["figures"]["customers"] == "3"


def test_a_just_over_order_after_a_returned_one_is_held(tmp_path) -> None:
    orders = Orders(tmp_path, AbuseRules(threshold_returns=ThresholdReturns(
        thresholds=[Decimal("100.00")], margin=Decimal("5.00"), returned_within_hours=48)))
    orders.place(placed("O-1", price="101.00"))
    with orders.uow(Actor("kafka", "aftersales.cases")) as uow:  # the goods came back soon after
        for order_id in ("O-1",):
            uow.session.execute(holds_store._STEPS.insert().values(
                order_id=order_id, status="return_requested", outcome="advanced", at=NOW + timedelta(hours=5),
                recorded_at=NOW, event_type="return.requested", event_id="E-1", actor="test", note=""))
    orders.clock.advance(timedelta(days=2))
    orders.place(placed("O-2", price="103.00"), placed("O-3", price="120.00"))
    assert [orders.status(o) for o in ("O-1", "O-2", "O-3")] == ["accepted", "held", "accepted"]
    [(_, held)] = orders.events("order.held")
    assert held["figures"]["earlier_order"] == "O-1" and held["figures"]["returned_after_hours"] == "5.0"


def test_the_return_is_learned_from_the_lifecycle_event_it_already_consumes(tmp_path) -> None:
    orders = Orders(tmp_path, AbuseRules(threshold_returns=ThresholdReturns(
        thresholds=[Decimal("100.00")], margin=Decimal("5.00"), returned_within_hours=48)))
    orders.place(placed("O-1", price="100.00"))
    with orders.uow(Actor("kafka", "aftersales.cases")) as uow:
        uow.session.execute(holds_store._RECORDS.update().values(status="delivered"))  # shipped and delivered
        usecases.apply_lifecycle_event(uow, ReturnRequested.model_validate({
            "case_id": "CASE-1", "order_id": "O-1", "kind": "return", "lines": [{"sku": "SKU-PHONE", "quantity": 1}],
            "requested_at": (NOW + timedelta(hours=2)).isoformat()}))
    orders.place(placed("O-2", price="104.00"))
    assert orders.status("O-2") == "held"


def test_an_unknown_sku_makes_the_order_need_attention_listed_with_its_reason(tmp_path) -> None:
    orders = Orders(tmp_path, None)
    orders.place(placed("O-1"))
    with orders.uow(Actor("kafka", "inventory.reservations")) as uow:
        assert usecases.apply_lifecycle_event(uow, StockSkuUnknown(order_id="O-1", skus=["SKU-GHOST"],
                                                                   found_at=NOW)) == "advanced"
    assert orders.status("O-1") == "needs_attention"
    with transaction(orders.engine) as session:
        page = holds.open_holds(session, PageRequest(50, None), kind=None)
        view = usecases.order_view(session, "O-1")
    [item] = page.items
    assert (item.order_id, item.status, item.kind, item.rule) == ("O-1", "needs_attention", "attention", "sku_unknown")
    assert item.reason.startswith("inventory does not know sku(s) SKU-GHOST: nothing is reserved")
    assert view.hold is not None and view.hold.rule == "sku_unknown"
    with orders.uow(SUPPORT) as uow:
        refused = holds.release_hold(uow, holds.ReleaseHold("O-1"))
    assert refused.outcome == "not_held" and "needs attention" in refused.reason


def test_holds_are_listed_oldest_first_a_page_at_a_time(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    orders.place(*(placed(f"O-{n}", customer=f"C-{n}", quantity=3) for n in range(5)))
    with transaction(orders.engine) as session:
        first = holds.open_holds(session, PageRequest(2, None), kind="hold")
        assert [i.order_id for i in first.items] == ["O-0", "O-1"] and first.next_cursor
        rest = holds.open_holds(session, PageRequest(10, decode_cursor(first.next_cursor)), kind="hold")
        assert [i.order_id for i in rest.items] == ["O-2", "O-3", "O-4"] and rest.next_cursor is None
        assert holds.open_holds(session, PageRequest(10, None), kind="attention").items == []


def test_rules_set_over_http_stand_over_the_file_at_the_next_start(tmp_path) -> None:
    orders = Orders(tmp_path, LIMIT_2)
    with orders.uow(Actor("rules", "x")) as uow:
        assert holds.load_rules_at_start(uow, LIMIT_2, "file:test.json") == "unchanged"
        assert holds.load_rules_at_start(uow, AbuseRules(), "file:test.json") == "loaded"
    with orders.uow(Actor("http", "ops", roles=("admin",))) as uow:
        answer = holds.replace_rules(uow, LIMIT_2)
    assert answer.version == 3 and answer.source == "PUT /abuse-rules by http:ops(admin)"
    with orders.uow(Actor("rules", "x")) as uow:
        assert holds.load_rules_at_start(uow, AbuseRules(), "file:test.json") == "kept"
    orders.place(placed("O-1", quantity=3))
    assert orders.status("O-1") == "held"


def test_a_bad_rules_file_says_what_is_wrong(tmp_path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"customer_orders": {"max_orders": 0, "minutes": 10}}))
    with pytest.raises(ValueError, match=r"rules.json: customer_orders.max_orders"):
        holds.read_rules_file(path)
    with pytest.raises(ValueError, match="abuse rules file"):
        holds.read_rules_file(tmp_path / "missing.json")


def test_address_counts_keep_each_rules_window(tmp_path) -> None:
    orders = Orders(tmp_path, None)
    digest = holds_store.address_digest("Room 5")
    with orders.uow() as uow:
        for n, minutes_ago in enumerate((90, 30, 5, 0)):
            holds_store.add_address(uow.session, order_id=f"O-{n}", digest=digest, customer_id=f"C-{n % 3}",
                                    placed_at=NOW - timedelta(minutes=minutes_ago))
        count = lambda **since: holds_store.address_counts(uow.session, digest, "C-0", **since)  # noqa: E731
        assert count(orders_since=None, customers_since=None) == (0, 0)
        assert count(orders_since=NOW - timedelta(minutes=30), customers_since=None) == (3, 0)
        # C-0 placed O-0 (90 min ago) and O-3: the others are C-1 and C-2, both within 60 minutes.
        assert count(orders_since=None, customers_since=NOW - timedelta(minutes=60)) == (0, 2)
        assert count(orders_since=NOW - timedelta(minutes=5), customers_since=NOW - timedelta(minutes=10)) == (2, 1)
        assert holds_store.address_counts(uow.session, holds_store.address_digest("ROOM  5"), "C-9",
                                          orders_since=NOW - timedelta(days=1), customers_since=None) == (4, 0)

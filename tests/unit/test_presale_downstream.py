"""The deposit presale's rules downstream of orders, without I/O (issue 29): logistics' shipment
awaiting its balance (services/logistics/presale.py) and aftersales' paid amount
(services/aftersales/presale.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.aftersales import presale as paid
from services.logistics import domain
from services.logistics import presale as shipping

DEPOSIT_AT = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
BALANCE_AT = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
PRESALE_RANK = "0-000638930000000000-O-1"


def row(status: str = domain.QUEUED, rank: str = "0-000638000000000000-O-1") -> dict:
    """Enough of domain.new_shipment's row for the presale rules."""
    deadline_24h, deadline_48h = domain.deadlines(DEPOSIT_AT)
    return {"shipment_id": "SHP-O-1", "status": status, "paid_at": DEPOSIT_AT, "priority_rank": rank,
            "deadline_24h": deadline_24h, "deadline_48h": deadline_48h}


# --- logistics -------------------------------------------------------------------------------------


def test_a_reservation_awaiting_its_balance_opens_awaiting_with_the_deposit_time_kept() -> None:
    opened = shipping.open_awaiting(row(), None)
    assert opened["status"] == domain.AWAITING_BALANCE == "awaiting_balance"
    assert opened["deposit_paid_at"] == DEPOSIT_AT and opened["paid_at"] == DEPOSIT_AT
    assert "balance_paid_at" not in opened


def test_a_balance_that_came_first_queues_the_shipment_at_once_from_the_balance() -> None:
    opened = shipping.open_awaiting(row(), shipping.Balance(BALANCE_AT, PRESALE_RANK))
    assert opened["status"] == domain.QUEUED
    assert opened["deposit_paid_at"] == DEPOSIT_AT
    assert opened["paid_at"] == opened["balance_paid_at"] == BALANCE_AT
    assert opened["deadline_24h"] == BALANCE_AT + timedelta(hours=24)
    assert opened["deadline_48h"] == BALANCE_AT + timedelta(hours=48)
    assert opened["priority_rank"] == PRESALE_RANK


def test_a_withdrawn_row_stays_withdrawn_whether_or_not_the_balance_came() -> None:
    for balance in (None, shipping.Balance(BALANCE_AT, PRESALE_RANK)):
        opened = shipping.open_awaiting(row(domain.WITHDRAWN), balance)
        assert opened["status"] == domain.WITHDRAWN and opened["paid_at"] == DEPOSIT_AT
        assert opened["deposit_paid_at"] == DEPOSIT_AT


def test_the_balance_queues_only_a_shipment_awaiting_it() -> None:
    balance = shipping.Balance(BALANCE_AT, PRESALE_RANK)
    changes = shipping.receive_balance(domain.AWAITING_BALANCE, "0-old", balance)
    assert changes == {"status": domain.QUEUED, "paid_at": BALANCE_AT, "balance_paid_at": BALANCE_AT,
                       "deadline_24h": BALANCE_AT + timedelta(hours=24),
                       "deadline_48h": BALANCE_AT + timedelta(hours=48), "priority_rank": PRESALE_RANK}
    for status in (domain.QUEUED, domain.PICKING, domain.PACKED, domain.SHIPPED, domain.DELIVERED, domain.LOST,
                   domain.WITHDRAWN):
        assert shipping.receive_balance(status, "0-old", balance) is None


def test_a_rank_outside_the_presale_class_is_refused_and_the_reservations_rank_kept() -> None:
    assert shipping.PRESALE_RANK_PREFIX == "0-"
    assert shipping.rank_refusal(PRESALE_RANK) is None
    assert shipping.rank_refusal("0-") is None  # the prefix alone is still the presale class
    for rank in ("2-000638930000000000-O-1", "1-000638930000000000-O-1", "00-1", "0", "-0-1", "10-1"):
        reason = shipping.rank_refusal(rank)
        assert reason is not None and repr(rank) in reason and "is not in the presale class" in reason
    odd = shipping.Balance(BALANCE_AT, "2-000638930000000000-O-1")
    assert shipping.rank_after_balance("0-kept", odd) == "0-kept"
    assert shipping.rank_after_balance("0-kept", shipping.Balance(BALANCE_AT, PRESALE_RANK)) == PRESALE_RANK
    changes = shipping.receive_balance(domain.AWAITING_BALANCE, "0-kept", odd)
    assert changes is not None and changes["priority_rank"] == "0-kept" and changes["paid_at"] == BALANCE_AT
    assert shipping.open_awaiting(row(rank="0-kept"), odd)["priority_rank"] == "0-kept"


def test_a_repeat_of_the_balance_is_the_same_only_when_time_and_rank_are() -> None:
    kept = shipping.Balance(BALANCE_AT, PRESALE_RANK)
    assert shipping.is_same_balance(kept, shipping.Balance(BALANCE_AT, PRESALE_RANK))
    assert not shipping.is_same_balance(kept, shipping.Balance(BALANCE_AT + timedelta(microseconds=1), PRESALE_RANK))
    assert not shipping.is_same_balance(kept, shipping.Balance(BALANCE_AT, PRESALE_RANK + "x"))


def test_an_awaiting_shipment_is_withdrawn_by_a_cancellation_but_never_picked_packed_or_shipped() -> None:
    assert domain.can_withdraw(domain.AWAITING_BALANCE)
    for status in (domain.SHIPPED, domain.DELIVERED, domain.LOST, domain.WITHDRAWN):
        assert not domain.can_withdraw(status)
    awaiting = SimpleNamespace(shipment_id="SHP-O-1", order_id="O-1", status=domain.AWAITING_BALANCE,
                               picker_id=None, claimed_until=None, carrier=None, tracking_number=None,
                               shipped_at=None, replacement_for_case=None)
    withdrawn = domain.withdraw(awaiting, reason="balance_unpaid", cancelled_at=BALANCE_AT)
    assert withdrawn is not None and withdrawn["status"] == domain.WITHDRAWN
    with pytest.raises(domain.StepRefused, match="awaiting_balance"):
        domain.pack(awaiting, picker_id="P-1", now=BALANCE_AT)
    with pytest.raises(domain.StepRefused, match="awaiting_balance"):
        domain.check_can_ship(domain.AWAITING_BALANCE)
    assert domain.effective_status(awaiting, BALANCE_AT) == domain.AWAITING_BALANCE
    assert domain.AWAITING_BALANCE not in domain.NOT_YET_SHIPPED  # the forecast's "in hand" leaves it out


# --- aftersales --------------------------------------------------------------------------------------


def money(text: str) -> Decimal:
    return Decimal(text)


def test_an_order_awaiting_its_balance_has_paid_its_deposit_alone() -> None:
    assert paid.deposit_of(money("100.00"), BALANCE_AT) == money("100.00")
    assert paid.deposit_of(money("100.00"), None) is None


def test_after_the_balance_what_was_paid_is_deposit_plus_balance_to_the_cent() -> None:
    balance = paid.Balance(money("699.00"), money("799.00"), BALANCE_AT)
    assert paid.paid_after_balance("O-1", money("100.00"), balance) == money("799.00")
    for wrong in ("799.01", "798.99", "699.00", "899.00"):
        with pytest.raises(paid.BalanceRefused) as refused:
            paid.paid_after_balance("O-1", money("100.00"), paid.Balance(money("699.00"), money(wrong), BALANCE_AT))
        assert str(refused.value) == (f"order O-1: paid_amount {wrong} is not the deposit 100.00 plus the balance "
                                      "699.00 = 799.00")


def test_a_balance_is_only_for_an_order_accepted_awaiting_one() -> None:
    assert paid.check_awaits_balance("O-1", money("100.00")) == money("100.00")
    assert paid.check_awaits_balance("O-1", money("0.00")) == money("0.00")
    with pytest.raises(paid.BalanceRefused, match="O-1 was not accepted awaiting a balance"):
        paid.check_awaits_balance("O-1", None)


def test_a_repeat_of_the_balance_is_the_same_only_when_every_figure_is() -> None:
    kept = paid.Balance(money("699.00"), money("799.00"), BALANCE_AT)
    assert paid.is_same_balance(kept, paid.Balance(money("699.00"), money("799.00"), BALANCE_AT))
    assert not paid.is_same_balance(kept, paid.Balance(money("699.01"), money("799.00"), BALANCE_AT))
    assert not paid.is_same_balance(kept, paid.Balance(money("699.00"), money("799.01"), BALANCE_AT))
    assert not paid.is_same_balance(kept, paid.Balance(money("699.00"), money("799.00"), DEPOSIT_AT))

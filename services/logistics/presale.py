"""A deposit presale's shipment, with no I/O (issue 29, R1, R13, R14).

Inventory reserves a deposit presale's stock like any order's and says `awaiting_balance` on
stock.reserved. Its shipment then waits in `awaiting_balance`: it is in no queue and no pick
wave, and no SLA figure counts it, because no clock runs for an order that is not fully paid.
`order.balance_received` puts it in the queue in the presale class, ranked by the balance's
payment, and its 24h/48h clock starts then (`paid_at` becomes the balance's payment; the deposit's
stays in `deposit_paid_at`).

The two events come on different topics, so the balance may arrive before the reservation: it is
kept (`Balance`) and applied when the shipment opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.logistics.domain import AWAITING_BALANCE, QUEUED, WITHDRAWN, Changes, deadlines
from shared.events import PRIORITY_CLASSES

PRESALE_RANK_PREFIX = f"{PRIORITY_CLASSES.index('presale')}-"
"""Ranks decided by orders start with their class's position (orders.domain.priority_rank): a
presale rank sorts before every other class's."""


@dataclass(frozen=True)
class Balance:
    """A balance received for an order: when it was paid and the rank orders gave it."""

    balance_paid_at: datetime
    priority_rank: str


def rank_refusal(rank: str) -> str | None:
    """Why a balance's rank cannot rank a presale shipment (None: it can). A rank of another class
    would sort the order among standard orders' ranks inside the presale class."""
    if rank.startswith(PRESALE_RANK_PREFIX):
        return None
    return (f"priority_rank {rank!r} is not in the presale class (a presale rank starts with "
            f"{PRESALE_RANK_PREFIX!r}): the shipment keeps the rank of its reservation")


def rank_after_balance(current_rank: str, balance: Balance) -> str:
    """The balance's rank when it is a presale rank, else the one the reservation carried."""
    return balance.priority_rank if rank_refusal(balance.priority_rank) is None else current_rank


def is_same_balance(kept: Balance, received: Balance) -> bool:
    """A second order.balance_received with the same content is a repeat; other content is a
    contradiction (the first stays)."""
    return kept == received


def balance_changes(current_rank: str, balance: Balance) -> Changes:
    """The shipment enters the queue: its clock (and `paid_at`, which the SLA counts from) starts
    at the balance's payment, ranked by it."""
    deadline_24h, deadline_48h = deadlines(balance.balance_paid_at)
    return {"status": QUEUED, "paid_at": balance.balance_paid_at, "balance_paid_at": balance.balance_paid_at,
            "deadline_24h": deadline_24h, "deadline_48h": deadline_48h,
            "priority_rank": rank_after_balance(current_rank, balance)}


def open_awaiting(row: Changes, balance: Balance | None) -> Changes:
    """A deposit presale's shipment row (domain.new_shipment's, from a stock.reserved awaiting
    its balance): awaiting the balance, or queued at once when the balance came first. A row
    withdrawn because the order was cancelled first stays withdrawn."""
    opened = {**row, "deposit_paid_at": row["paid_at"]}
    if opened["status"] == WITHDRAWN:
        return opened
    if balance is None:
        return opened | {"status": AWAITING_BALANCE}
    return opened | balance_changes(opened["priority_rank"], balance)


def receive_balance(status: str, current_rank: str, balance: Balance) -> Changes | None:
    """The balance for an open shipment: None when it is not awaiting one (already queued or
    further, withdrawn, or a shipment that never waited for a balance)."""
    if status != AWAITING_BALANCE:
        return None
    return balance_changes(current_rank, balance)

"""The case aggregate (R21-R23), with no I/O: its workflow, what each step changes, the units an
order's cases hold, the handling queue and the 48-hour SLA.

A step is a function of the case as it is: it returns a `CaseChange` (the case as it becomes and
the timeline row to add), or raises a `Refusal` saying why not. Nothing else sets a case's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from services.aftersales.domain import ZERO, OrderHoldings, Purchase, Refusal, ReturnRefused

CASE_HANDLING_TIME = timedelta(hours=48)
"""R21: the after-sales green channel handles every case within 48 hours."""


class CaseKind(StrEnum):
    RETURN = "return"
    EXCHANGE = "exchange"
    SHIPMENT_EXCEPTION = "shipment_exception"  # opened automatically for a delayed/damaged/lost shipment


class CaseStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    RECEIVED = "received"
    INSPECTED = "inspected"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    REJECTED = "rejected"


CLOSED = frozenset({CaseStatus.REFUNDED, CaseStatus.EXCHANGED, CaseStatus.REJECTED})

_S = CaseStatus
TRANSITIONS: dict[CaseKind, dict[CaseStatus, frozenset[CaseStatus]]] = {
    CaseKind.RETURN: {
        _S.REQUESTED: frozenset({_S.APPROVED, _S.REJECTED}),
        _S.APPROVED: frozenset({_S.RECEIVED, _S.REJECTED}),
        _S.RECEIVED: frozenset({_S.INSPECTED}),
        # after a failed inspection the agent still decides: refund anyway, or reject
        _S.INSPECTED: frozenset({_S.REFUNDED, _S.REJECTED}),
    },
    CaseKind.EXCHANGE: {
        _S.REQUESTED: frozenset({_S.APPROVED, _S.REJECTED}),
        _S.APPROVED: frozenset({_S.RECEIVED, _S.REJECTED}),
        _S.RECEIVED: frozenset({_S.INSPECTED}),
        _S.INSPECTED: frozenset({_S.EXCHANGED, _S.REJECTED}),
    },
    # goods may be lost: support refunds, ships a replacement, or closes it (rejected)
    CaseKind.SHIPMENT_EXCEPTION: {
        _S.REQUESTED: frozenset({_S.APPROVED, _S.REFUNDED, _S.EXCHANGED, _S.REJECTED}),
        _S.APPROVED: frozenset({_S.REFUNDED, _S.EXCHANGED, _S.REJECTED}),
    },
}


class TransitionRefused(Refusal):
    def __init__(self, reason: str) -> None:
        super().__init__("transition", reason)


class CaseNotFound(Refusal):
    def __init__(self, case_id: str) -> None:
        super().__init__("unknown_case", f"no case {case_id}")


def check_transition(kind: CaseKind, current: CaseStatus, target: CaseStatus) -> None:
    allowed = TRANSITIONS[kind].get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none, the case is closed"
        raise TransitionRefused(f"a {kind} case that is {current} cannot become {target} (next steps: {options})")


def is_handling_decision(target: CaseStatus) -> bool:
    """R21 counts a case as handled once the customer has a decision: approved, or closed."""
    return target in CLOSED or target is CaseStatus.APPROVED


def case_deadline(opened_at: datetime) -> datetime:
    return opened_at + CASE_HANDLING_TIME


# ---------------------------------------------------------------------------------------------
# The case and its steps


@dataclass(frozen=True)
class CaseView:
    """What queue ordering and the SLA need to know about a case."""

    case_id: str
    kind: CaseKind
    dispute: bool
    opened_at: datetime
    deadline_at: datetime
    handled_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Case(CaseView):
    order_id: str
    status: CaseStatus
    reason: str = ""
    closed_at: datetime | None = None
    inspection_passed: bool | None = None
    refund_amount: Decimal | None = None
    shipment_id: str | None = None
    exception_kind: str | None = None  # delayed | damaged | lost, for shipment_exception cases

    def overdue(self, now: datetime) -> bool:
        return self.handled_at is None and now > self.deadline_at


@dataclass(frozen=True)
class CaseLine:
    sku: str
    quantity: int
    gift: bool = False
    added_by_gift_rule: bool = False


@dataclass(frozen=True)
class Step:
    """A row of the case's timeline: who/why in `note`."""

    status: str
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class CaseChange:
    case: Case
    step: Step | None  # None: nothing changed


def open_case(case_id: str, order_id: str, kind: CaseKind, now: datetime, *, reason: str = "",
              dispute: bool = False, shipment_id: str | None = None, exception_kind: str | None = None) -> CaseChange:
    case = Case(case_id=case_id, order_id=order_id, kind=kind, status=CaseStatus.REQUESTED, dispute=dispute,
                reason=reason, opened_at=now, deadline_at=case_deadline(now), handled_at=None,
                shipment_id=shipment_id, exception_kind=exception_kind)
    return CaseChange(case, Step(CaseStatus.REQUESTED.value, now, ("dispute; " if dispute else "") + reason))


def _moved(case: Case, target: CaseStatus, now: datetime, note: str, **changes: object) -> CaseChange:
    check_transition(case.kind, case.status, target)
    handled_at = now if is_handling_decision(target) and case.handled_at is None else case.handled_at
    closed_at = now if target in CLOSED else case.closed_at
    moved = replace(case, status=target, handled_at=handled_at, closed_at=closed_at, **changes)
    return CaseChange(moved, Step(target.value, now, note))


def approve(case: Case, now: datetime, note: str = "") -> CaseChange:
    return _moved(case, CaseStatus.APPROVED, now, note)


def receive(case: Case, now: datetime, note: str = "") -> CaseChange:
    return _moved(case, CaseStatus.RECEIVED, now, note)


def inspect(case: Case, passed: bool, now: datetime, note: str = "") -> CaseChange:
    return _moved(case, CaseStatus.INSPECTED, now, ("passed" if passed else "failed") + (f": {note}" if note else ""),
                  inspection_passed=passed)


def check_refund(case: Case) -> None:
    """Before the refund is worked out: a step out of turn is refused as such."""
    check_transition(case.kind, case.status, CaseStatus.REFUNDED)


def refund(case: Case, amount: Decimal, now: datetime, note: str = "") -> CaseChange:
    return _moved(case, CaseStatus.REFUNDED, now, f"refund {amount:.2f}" + (f"; {note}" if note else ""),
                  refund_amount=amount)


def check_exchange(case: Case) -> None:
    check_transition(case.kind, case.status, CaseStatus.EXCHANGED)


def exchange(case: Case, now: datetime, note: str = "") -> CaseChange:
    return _moved(case, CaseStatus.EXCHANGED, now, note)


def reject(case: Case, reason: str, now: datetime) -> CaseChange:
    return _moved(case, CaseStatus.REJECTED, now, reason)


def escalate(case: Case, now: datetime, note: str = "") -> CaseChange:
    """R22: a dispute goes to the head of the queue; escalating one again changes nothing."""
    if case.status in CLOSED:
        raise ReturnRefused("closed", f"case {case.case_id} is closed ({case.status}); open a new case instead")
    if case.dispute:
        return CaseChange(case, None)
    return CaseChange(replace(case, dispute=True), Step("disputed", now, note))


# ---------------------------------------------------------------------------------------------
# Units held by an order's cases


def units_by_sku(lines: Iterable[CaseLine]) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def holdings_of(cases: Iterable[tuple[Case, Sequence[CaseLine]]]) -> tuple[OrderHoldings, Decimal]:
    """Units refunded and units in open return/exchange cases, per sku; and the total refunded.
    An open shipment-exception case holds nothing until it is decided."""
    refunded: dict[str, int] = {}
    in_open: dict[str, int] = {}
    refunded_total = ZERO
    for case, lines in cases:
        if case.status is CaseStatus.REFUNDED:
            refunded_total += case.refund_amount or ZERO
            target = refunded
        elif case.status not in CLOSED and case.kind is not CaseKind.SHIPMENT_EXCEPTION:
            target = in_open
        else:
            continue
        for line in lines:
            target[line.sku] = target.get(line.sku, 0) + line.quantity
    return OrderHoldings(refunded=refunded, in_open_cases=in_open), refunded_total


def everything_kept(purchase: Purchase, holdings: OrderHoldings) -> list[CaseLine]:
    """A shipment-exception case refunds or replaces whatever of the order the customer still has
    (not refunded, not in another case); its lines are fixed when that decision is made."""
    lines = [CaseLine(sku=line.sku, quantity=left, gift=line.gift)
             for line in purchase.lines if (left := holdings.returnable(line)) > 0]
    if not lines:
        raise ReturnRefused("too_many", f"nothing of order {purchase.order_id} is left to refund or replace")
    return lines


# ---------------------------------------------------------------------------------------------
# R21/R22: the queue and the SLA


def queue_position(case: CaseView) -> tuple[int, datetime, datetime, str]:
    """R22: disputes first, then shipment exceptions (a customer is already let down), then the
    rest; within each, the nearest deadline first. Unique per case: the queue's page key too."""
    return (queue_tier(case.dispute, case.kind), case.deadline_at, case.opened_at, case.case_id)


def queue_tier(dispute: bool, kind: str) -> int:
    return 0 if dispute else 1 if kind == CaseKind.SHIPMENT_EXCEPTION else 2


def handling_queue(cases: Iterable[CaseView]) -> list[CaseView]:
    return sorted(cases, key=queue_position)


@dataclass(frozen=True)
class SlaReport:
    cases: int
    handled: int
    handled_in_time: int
    overdue_unhandled: int
    share_handled_in_time: Decimal | None  # None while no case has been handled or gone overdue
    at_risk: list[CaseView]


def sla_report(cases: Sequence[CaseView], now: datetime, at_risk_within: timedelta) -> SlaReport:
    """R21: the share of cases handled within 48 hours, over every case that is either handled or
    past its deadline (a case still inside its 48 hours has not failed yet). At risk: unhandled
    cases whose deadline passes within `at_risk_within` or has passed."""
    handled = [c for c in cases if c.handled_at is not None]
    in_time = [c for c in handled if c.handled_at <= c.deadline_at]
    unhandled = [c for c in cases if c.handled_at is None]
    overdue = [c for c in unhandled if now > c.deadline_at]
    judged = len(handled) + len(overdue)
    share = (Decimal(len(in_time)) / judged).quantize(Decimal("0.0001")) if judged else None
    at_risk = handling_queue(c for c in unhandled if c.deadline_at - now <= at_risk_within)
    return SlaReport(cases=len(cases), handled=len(handled), handled_in_time=len(in_time),
                     overdue_unhandled=len(overdue), share_handled_in_time=share, at_risk=at_risk)

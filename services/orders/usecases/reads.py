"""What operators and the web console read (R26): an order with its timeline, lists one page at a
time (shared/pagination.py), live figures. Read-only, on a session of their own."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlmodel import Session

from services.orders import store
from services.orders.domain import ALL_STATES, CANCELLED, CLOSED
from services.orders.store import presale as presale_store
from services.orders.models import OrderConflict, OrderRecord, OrderRejection
from services.orders.schemas import (Conflict, ConflictPage, Figures, OrderPage, OrderSummary, OrderView,
                                     PresaleView, RejectedOrder, Rejection, RejectionPage, Stats, Step, aware)
from services.orders.usecases import holds
from shared.events import PRIORITY_CLASSES
from shared.http_problems import Problem
from shared.money import CENT
from shared.pagination import PageRequest, next_cursor


def order_view(session: Session, order_id: str) -> OrderView | RejectedOrder | None:
    record = store.order_record(session, order_id)
    if record is None:
        rejection = store.latest_rejection(session, order_id)
        if rejection is None:
            return None
        return RejectedOrder(order_id=order_id, status="rejected", reason=rejection.reason,
                             rejected_at=aware(rejection.rejected_at), event_id=rejection.event_id)
    content = json.loads(record.content_json)
    steps = store.timeline(session, order_id)
    reached = {}
    for s in steps:
        if s.outcome in ("advanced", "late") and s.status not in reached:
            reached[s.status] = aware(s.at)
    return OrderView(
        **_summary(record).model_dump(),
        customer_id=record.customer_id, region=record.region, order_type=record.order_type,
        lines=content["lines"], deposit=content.get("deposit"), balance_paid_at=content.get("balance_paid_at"),
        promotions=content.get("promotions", []), refunded_amount=_money(record.refunded_cents or 0),
        status_changed_at=aware(record.status_changed_at),
        steps_reached=reached,
        timeline=[Step(status=s.status, outcome=s.outcome, at=aware(s.at),
                       recorded_at=aware(s.recorded_at) if s.recorded_at else None, event_type=s.event_type,
                       event_id=s.event_id, actor=s.actor, note=s.note) for s in steps],
        presale=_presale(session, order_id) if record.order_type == "presale" else None,
        hold=holds.hold_info(session, order_id))


def _presale(session: Session, order_id: str) -> PresaleView | None:
    row = presale_store.view(session, order_id)
    if row is None:
        return None
    return PresaleView(deposit=row.deposit, expansion=row.expansion, deposit_value=row.deposit_value, price=row.price,
                       balance_due=row.balance_due, balance_due_by=aware(row.balance_due_by),
                       closes_at=aware(row.closes_at), balance_amount=row.balance_amount,
                       balance_paid_at=aware(row.balance_paid_at) if row.balance_paid_at else None,
                       closed_at=aware(row.closed_at) if row.closed_at else None)


def _summary(record: OrderRecord) -> OrderSummary:
    return OrderSummary(order_id=record.order_id, status=record.status, priority_class=record.priority_class,
                        priority_rank=record.priority_rank, paid_amount=record.paid_amount, discount=record.discount,
                        currency=record.currency, paid_at=aware(record.paid_at), accepted_at=aware(record.accepted_at))


def list_orders(session: Session, page: PageRequest, *, status: str | None, priority_class: str | None,
                customer_id: str | None) -> OrderPage:
    """In dispatch priority order (the rank), one page at a time."""
    if status is not None and status not in ALL_STATES:
        raise Problem(422, "invalid-request", f"unknown status {status!r}; expected one of {', '.join(ALL_STATES)}")
    if priority_class is not None and priority_class not in PRIORITY_CLASSES:
        raise Problem(422, "invalid-request",
                      f"unknown priority_class {priority_class!r}; expected one of {', '.join(PRIORITY_CLASSES)}")
    after = page.after_matching(str)
    rows = store.page_of_orders(session, page, after[0] if after else None, status=status,
                                priority_class=priority_class, customer_id=customer_id)
    return OrderPage(items=[_summary(r) for r in rows[:page.limit]],
                     next_cursor=next_cursor(rows, page.limit, _rank_key))


def _rank_key(record: OrderRecord) -> tuple[str]:
    return (record.priority_rank,)


def _id_key(row: OrderConflict | OrderRejection) -> tuple[int]:
    return (row.id,)  # type: ignore[return-value]


def _after_id(page: PageRequest, after_id: int | None) -> int | None:
    """Where a page of conflicts or rejections starts: the cursor, or `after_id` as before."""
    after = page.after_matching(int)
    if after is not None and after_id is not None:
        raise Problem(422, "invalid-request", "give `cursor` or `after_id`, not both")
    return after[0] if after is not None else after_id


def stats(session: Session) -> Stats:
    """Orders and GMV by priority class and by state, and the average basket (R26).

    GMV (gross) counts what accepted orders paid, cancelled orders excluded (and deposit presales
    closed with their balance unpaid: nothing was sold); a deposit presale counts its deposit until
    its balance is paid. `gmv_net` takes off what was refunded on them (R23: a partial return
    leaves the order `partially_refunded`)."""
    by_class = {k: [0, 0] for k in PRIORITY_CLASSES}
    by_state = {s: [0, 0] for s in ALL_STATES}
    total = [0, 0]
    refunded = 0
    for klass, status, count, cents, refunded_cents in store.totals_by_class_and_state(session):
        _add(by_state.setdefault(status, [0, 0]), count, cents)
        if status not in CLOSED:
            _add(by_class.setdefault(klass, [0, 0]), count, cents)
            _add(total, count, cents)
            refunded += refunded_cents
    return Stats(orders=total[0], gmv=_money(total[1]), gmv_net=_money(total[1] - refunded), refunded=_money(refunded),
                 average_basket=_money(Decimal(total[1]) / total[0] if total[0] else 0),
                 by_class={k: Figures(orders=n, gmv=_money(c)) for k, (n, c) in by_class.items()},
                 by_state={k: Figures(orders=n, gmv=_money(c)) for k, (n, c) in by_state.items()},
                 cancelled=by_state[CANCELLED][0], **store.counts_beside_orders(session))


def _add(figures: list[int], count: int, cents: int) -> None:
    figures[0] += count
    figures[1] += cents


def _money(cents: int | Decimal) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def conflicts(session: Session, page: PageRequest, *, order_id: str | None, after_id: int | None) -> ConflictPage:
    """Tampering attempts (R3): re-sends of accepted orders with different content, oldest first."""
    rows = store.page_of_conflicts(session, page, _after_id(page, after_id), order_id=order_id)
    shown = rows[:page.limit]
    cursor = next_cursor(rows, page.limit, _id_key)
    return ConflictPage(items=[Conflict(id=c.id, order_id=c.order_id, channel=c.channel, event_id=c.event_id,
                                        source=c.source, differences=json.loads(c.differences),
                                        received_at=aware(c.received_at), content=json.loads(c.content_json))
                               for c in shown],
                        next_after_id=shown[-1].id if cursor else None, next_cursor=cursor)


def rejections(session: Session, page: PageRequest, *, after_id: int | None) -> RejectionPage:
    rows = store.page_of_rejections(session, page, _after_id(page, after_id))
    shown = rows[:page.limit]
    cursor = next_cursor(rows, page.limit, _id_key)
    return RejectionPage(items=[Rejection(id=r.id, order_id=r.order_id, reason=r.reason, event_id=r.event_id,
                                          rejected_at=aware(r.rejected_at)) for r in shown],
                         next_after_id=shown[-1].id if cursor else None, next_cursor=cursor)

"""Read side: what operators and the web console ask of the orders service."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.orders.lifecycle import CANCELLED, STATES
from services.orders.models import OrderConflict, OrderParkedEvent, OrderRecord, OrderRejection, OrderStep
from shared.events import PRIORITY_CLASSES
from shared.money import CENT

MAX_PAGE = 500
_RANK_SHAPE = re.compile(r"\d-\d{18}-.+")


def order_view(session: Session, order_id: str) -> dict[str, Any] | None:
    record = session.get(OrderRecord, order_id)
    if record is None:
        return _rejected_view(session, order_id)
    content = json.loads(record.content_json)
    steps = session.exec(select(OrderStep).where(OrderStep.order_id == order_id)
                         .order_by(col(OrderStep.at), col(OrderStep.id))).all()
    timeline = [{"status": s.status, "outcome": s.outcome, "at": _iso(s.at),
                 "recorded_at": _iso(s.recorded_at) if s.recorded_at else None,
                 "event_type": s.event_type, "event_id": s.event_id, "actor": s.actor, "note": s.note}
                 for s in steps]
    reached = {}
    for s in steps:
        if s.outcome in ("advanced", "late") and s.status not in reached:
            reached[s.status] = _iso(s.at)
    return {
        **_summary(record),
        "customer_id": record.customer_id, "region": record.region, "order_type": record.order_type,
        "lines": content["lines"], "deposit": content.get("deposit"),
        "balance_paid_at": content.get("balance_paid_at"), "promotions": content.get("promotions", []),
        "status_changed_at": _iso(record.status_changed_at),
        "steps_reached": reached, "timeline": timeline,
    }


def _rejected_view(session: Session, order_id: str) -> dict[str, Any] | None:
    rejection = session.exec(select(OrderRejection).where(OrderRejection.order_id == order_id)
                             .order_by(col(OrderRejection.id).desc())).first()
    if rejection is None:
        return None
    return {"order_id": order_id, "status": "rejected", "reason": rejection.reason,
            "rejected_at": _iso(rejection.rejected_at), "event_id": rejection.event_id}


def _summary(record: OrderRecord) -> dict[str, Any]:
    return {
        "order_id": record.order_id, "status": record.status, "priority_class": record.priority_class,
        "priority_rank": record.priority_rank, "paid_amount": f"{record.paid_amount:.2f}",
        "discount": f"{record.discount:.2f}", "currency": record.currency,
        "paid_at": _iso(record.paid_at), "accepted_at": _iso(record.accepted_at),
    }


def list_orders(session: Session, *, status: str | None, priority_class: str | None, customer_id: str | None,
                limit: int, cursor: str | None) -> dict[str, Any]:
    """In dispatch priority order (the rank), one page at a time; `next_cursor` fetches the next."""
    if status is not None and status not in STATES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATES)}")
    if priority_class is not None and priority_class not in PRIORITY_CLASSES:
        raise ValueError(f"unknown priority_class {priority_class!r}; expected one of {', '.join(PRIORITY_CLASSES)}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    query = select(OrderRecord).order_by(col(OrderRecord.priority_rank)).limit(limit + 1)
    if status is not None:
        query = query.where(OrderRecord.status == status)
    if priority_class is not None:
        query = query.where(OrderRecord.priority_class == priority_class)
    if customer_id is not None:
        query = query.where(OrderRecord.customer_id == customer_id)
    if cursor:
        query = query.where(col(OrderRecord.priority_rank) > _decode_cursor(cursor))
    rows = session.exec(query).all()
    page = rows[:limit]
    more = len(rows) > limit
    return {"items": [_summary(r) for r in page],
            "next_cursor": _encode_cursor(page[-1].priority_rank) if more else None}


def _encode_cursor(rank: str) -> str:
    return base64.urlsafe_b64encode(rank.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        rank = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("cursor is not one this service handed out") from exc
    if not _RANK_SHAPE.fullmatch(rank):
        raise ValueError("cursor is not one this service handed out")
    return rank


def stats(session: Session) -> dict[str, Any]:
    """Orders and GMV by priority class and by state, and the average basket (R26).

    GMV counts what accepted orders paid, cancelled orders excluded; refunds are not netted off
    (they show as the `refunded` state)."""
    rows = session.exec(
        select(OrderRecord.priority_class, OrderRecord.status, func.count(), func.sum(OrderRecord.paid_cents))
        .group_by(OrderRecord.priority_class, OrderRecord.status)
    ).all()
    by_class = {k: {"orders": 0, "cents": 0} for k in PRIORITY_CLASSES}
    by_state = {s: {"orders": 0, "cents": 0} for s in STATES}
    total = {"orders": 0, "cents": 0}
    for klass, status, count, cents in rows:
        cents = int(cents or 0)
        by_state.setdefault(status, {"orders": 0, "cents": 0})
        by_state[status]["orders"] += count
        by_state[status]["cents"] += cents
        if status == CANCELLED:
            continue
        by_class.setdefault(klass, {"orders": 0, "cents": 0})
        by_class[klass]["orders"] += count
        by_class[klass]["cents"] += cents
        total["orders"] += count
        total["cents"] += cents
    average = _money(Decimal(total["cents"]) / total["orders"]) if total["orders"] else "0.00"
    return {
        "orders": total["orders"], "gmv": _money(total["cents"]), "average_basket": average,
        "by_class": {k: {"orders": v["orders"], "gmv": _money(v["cents"])} for k, v in by_class.items()},
        "by_state": {k: {"orders": v["orders"], "gmv": _money(v["cents"])} for k, v in by_state.items()},
        "cancelled": by_state[CANCELLED]["orders"],
        "rejected": session.exec(select(func.count()).select_from(OrderRejection)).one(),
        "conflicts": session.exec(select(func.count()).select_from(OrderConflict)).one(),
        "parked_events": session.exec(select(func.count()).select_from(OrderParkedEvent)).one(),
    }


def _iso(moment: datetime) -> str:
    # SQLite hands datetimes back naive; every time stored here is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _money(cents: int | Decimal) -> str:
    return f"{(Decimal(cents) / 100).quantize(CENT):.2f}"


def conflicts(session: Session, *, order_id: str | None, limit: int, after_id: int | None) -> dict[str, Any]:
    """Tampering attempts (R3): re-sends of accepted orders with different content, newest last."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    query = select(OrderConflict).order_by(col(OrderConflict.id)).limit(limit)
    if order_id is not None:
        query = query.where(OrderConflict.order_id == order_id)
    if after_id is not None:
        query = query.where(col(OrderConflict.id) > after_id)
    rows = session.exec(query).all()
    return {"items": [{"id": c.id, "order_id": c.order_id, "channel": c.channel, "event_id": c.event_id,
                       "source": c.source, "differences": json.loads(c.differences),
                       "received_at": _iso(c.received_at), "content": json.loads(c.content_json)}
                      for c in rows],
            "next_after_id": rows[-1].id if len(rows) == limit else None}


def rejections(session: Session, *, limit: int, after_id: int | None) -> dict[str, Any]:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    query = select(OrderRejection).order_by(col(OrderRejection.id)).limit(limit)
    if after_id is not None:
        query = query.where(col(OrderRejection.id) > after_id)
    rows = session.exec(query).all()
    return {"items": [{"id": r.id, "order_id": r.order_id, "reason": r.reason, "event_id": r.event_id,
                       "rejected_at": _iso(r.rejected_at)} for r in rows],
            "next_after_id": rows[-1].id if len(rows) == limit else None}

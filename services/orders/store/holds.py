"""The statements of the abuse guard and the holds (R6): the rules in force, the counts the rules
ask for, the addresses, the hold rows and their list.

Counts are read in the transaction that accepts the order, after the order rows written before
it in the same transaction (orders are inserted at once, not at commit), so two orders of one
customer in one consumer batch see each other. Across transactions: SQLite's BEGIN IMMEDIATE
serialises writers; on PostgreSQL `serialise_screening` takes a transaction-scoped advisory lock
per customer and per address, so two instances screening orders of one customer queue.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, text, update
from sqlmodel import Session

from services.orders.abuse import AbuseRules, EarlierReturn, address_key, goods_value
from services.orders.attention import HELD, NEEDS_ATTENTION
from services.orders.models import OrderRecord, OrderStep
from services.orders.models_holds import OrderAbuseRules, OrderAddress, OrderHold
from services.orders.schemas import aware
from shared.events import Contract
from shared.fastsql import FastStatement
from shared.pagination import PageRequest
from shared.unit_of_work import Prefetch

_RECORDS = OrderRecord.__table__
_STEPS = OrderStep.__table__
_RULES = OrderAbuseRules.__table__
_ADDRESSES = OrderAddress.__table__
_HOLDS = OrderHold.__table__

HOLD, ATTENTION = "hold", "attention"
RETURN_EVENTS = ("return.requested", "refund.issued")
"""What tells orders an order was returned: the first of these on its timeline (not refused)."""

# ---------------------------------------------------------------------------------------------
# Serialising the screening of one customer's (or one address's) orders (PostgreSQL)


def _lock_key(kind: str, value: str) -> int:
    # Above the order locks' range (store/orders.py uses 2**32 + crc32).
    return (2 << 32) + zlib.crc32(f"abuse:{kind}:{value}".encode())


def _screening_keys(customer_id: str, address_digest: str | None) -> list[int]:
    keys = [_lock_key("customer", customer_id)]
    if address_digest is not None:
        keys.append(_lock_key("address", address_digest))
    return keys


def _lock(session: Session, keys: Sequence[int]) -> None:
    """In ascending order, so two transactions taking several never wait on each other in a
    cycle; re-taking one a transaction holds already is immediate."""
    for key in sorted(set(keys)):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def serialise_screening(session: Session, customer_id: str, address_digest: str | None) -> None:
    if session.get_bind().dialect.name == "postgresql":
        _lock(session, _screening_keys(customer_id, address_digest))


def _lock_batch(session: Session, payloads: Sequence[Any]) -> dict[str, bool]:
    """A consumer batch of orders takes every customer's and address's lock at once, in one
    ascending order, before its first order: a batch that took them order by order could wait
    in a cycle with another instance's batch. Nothing to read; the dict stays empty."""
    if session.get_bind().dialect.name == "postgresql":
        keys: list[int] = []
        for order in payloads:
            address = getattr(order, "delivery_address", None)
            keys += _screening_keys(order.customer_id, address_digest(address) if address else None)
        _lock(session, keys)
    return {}


SCREENING_LOCKS: Prefetch[str, bool] = Prefetch("orders.screening_locks", _lock_batch)


def address_digest(address: str) -> str:
    """What is stored and compared for a delivery address: the digest of its compared form."""
    return hashlib.sha256(address_key(address).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The rules in force

_RULES_VERSION = FastStatement(select(_RULES.c.version).where(_RULES.c.id == 1))
_parsed: dict[str, tuple[int, AbuseRules]] = {}
"""Per database: the rules last parsed and their version (parsing the JSON per order would cost)."""


_IN_TRANSACTION = "orders.abuse_rules"  # session.info: the rules this transaction read


def current_rules(session: Session) -> AbuseRules | None:
    """The rules in force, None before any were loaded: read once per transaction (a consumer
    batch applies one rule set), parsed again only when another instance (or PUT) changed them."""
    if _IN_TRANSACTION in session.info:
        return session.info[_IN_TRANSACTION]  # type: ignore[no-any-return]
    version = _RULES_VERSION.execute(session).scalar_one_or_none()
    rules: AbuseRules | None = None
    if version is not None:
        where = str(session.get_bind().engine.url)
        cached = _parsed.get(where)
        if cached is not None and cached[0] == version:
            rules = cached[1]
        else:
            row = session.get(OrderAbuseRules, 1)
            assert row is not None
            rules = AbuseRules.model_validate_json(row.rules_json)
            _parsed[where] = (row.version, rules)
    session.info[_IN_TRANSACTION] = rules
    return rules


def rules_row(session: Session) -> OrderAbuseRules | None:
    return session.get(OrderAbuseRules, 1)


def save_rules(session: Session, rules: AbuseRules, *, source: str, now: datetime) -> OrderAbuseRules:
    """Replace the rules (a new version); returns the row as saved."""
    body = rules.model_dump_json()
    row = session.get(OrderAbuseRules, 1, with_for_update=True)
    if row is None:
        row = OrderAbuseRules(id=1, version=1, rules_json=body, source=source, updated_at=now)
        session.add(row)
    else:
        row.version, row.rules_json, row.source, row.updated_at = row.version + 1, body, source, now
    session.flush()
    session.info.pop(_IN_TRANSACTION, None)
    return row


# ---------------------------------------------------------------------------------------------
# What the rules count


def units_bought(session: Session, customer_id: str, limited_since: Mapping[str, datetime | None]) -> dict[str, int]:
    """Units of each sku in `limited_since` that the customer bought in orders not cancelled,
    accepted (or held) at or after the sku's `since` (every order when None). Gift lines are not
    purchases."""
    starts = [since for since in limited_since.values() if since is not None]
    query = select(_RECORDS.c.accepted_at, _RECORDS.c.content_json).where(
        _RECORDS.c.customer_id == customer_id, _RECORDS.c.status != "cancelled")
    if starts and len(starts) == len(limited_since):
        query = query.where(_RECORDS.c.accepted_at >= min(starts))
    units = dict.fromkeys(limited_since, 0)
    for row in session.execute(query):
        accepted_at = aware(row.accepted_at)
        for line in json.loads(row.content_json)["lines"]:
            sku = line["sku"]
            if sku not in units or line.get("gift"):
                continue
            since = limited_since[sku]
            if since is None or accepted_at >= since:
                units[sku] += int(line["quantity"])
    return units


_CUSTOMER_ORDERS = FastStatement(select(func.count()).select_from(_RECORDS).where(
    _RECORDS.c.customer_id == bindparam("cid"), _RECORDS.c.accepted_at >= bindparam("since")))


def customer_orders_since(session: Session, customer_id: str, since: datetime) -> int:
    """The customer's orders accepted (or held) at or after `since`, whatever became of them."""
    return int(_CUSTOMER_ORDERS.execute(session, {"cid": customer_id, "since": since}).scalar_one())


# Both address counts in one statement over the wider window, each with its own start.
_ADDRESS_COUNTS = FastStatement(
    select(func.count(case((_ADDRESSES.c.placed_at >= bindparam("orders_since"), 1))).label("orders"),
           func.count(case((and_(_ADDRESSES.c.placed_at >= bindparam("customers_since"),
                                 _ADDRESSES.c.customer_id != bindparam("cid")), _ADDRESSES.c.customer_id))
                      .distinct()).label("other_customers"))
    .where(_ADDRESSES.c.address_digest == bindparam("digest"), _ADDRESSES.c.placed_at >= bindparam("since")))
_ADD_ADDRESS = FastStatement(insert(_ADDRESSES))
_NEVER = datetime.max.replace(tzinfo=UTC)


def address_counts(session: Session, digest: str, customer_id: str, *, orders_since: datetime | None,
                   customers_since: datetime | None) -> tuple[int, int]:
    """(orders to the address at or after `orders_since`, customers other than `customer_id`
    with orders to it at or after `customers_since`); 0 for a window that is None."""
    starts = [s for s in (orders_since, customers_since) if s is not None]
    if not starts:
        return 0, 0
    row = _ADDRESS_COUNTS.execute(session, {
        "digest": digest, "cid": customer_id, "since": min(starts), "orders_since": orders_since or _NEVER,
        "customers_since": customers_since or _NEVER}).one()
    return int(row.orders), int(row.other_customers)


def add_address(session: Session, *, order_id: str, digest: str, customer_id: str, placed_at: datetime) -> None:
    """At once (not at commit): the next order of the same batch counts it."""
    _ADD_ADDRESS.execute(session, {"order_id": order_id, "address_digest": digest, "customer_id": customer_id,
                                   "placed_at": placed_at})


def returned_orders(session: Session, customer_id: str) -> list[EarlierReturn]:
    """The customer's orders whose timeline has a return request or a refund (not refused),
    each with its goods value, when it was accepted and when it was first returned."""
    returned_at = func.min(_STEPS.c.at).label("returned_at")
    rows = session.execute(
        select(_RECORDS.c.order_id, _RECORDS.c.content_json, _RECORDS.c.accepted_at, returned_at)
        .join(_STEPS, _STEPS.c.order_id == _RECORDS.c.order_id)
        .where(_RECORDS.c.customer_id == customer_id, _STEPS.c.event_type.in_(RETURN_EVENTS),
               _STEPS.c.outcome != "refused")
        .group_by(_RECORDS.c.order_id, _RECORDS.c.content_json, _RECORDS.c.accepted_at)
        .order_by(_RECORDS.c.order_id)).all()
    return [EarlierReturn(order_id=row.order_id, value=_goods_value_of(row.content_json),
                          placed_at=aware(row.accepted_at), returned_at=aware(row.returned_at)) for row in rows]


def _goods_value_of(content_json: str) -> Decimal:
    lines = json.loads(content_json)["lines"]
    return goods_value((Decimal(line["unit_price"]), int(line["quantity"]), bool(line.get("gift"))) for line in lines)


# ---------------------------------------------------------------------------------------------
# Holds and attention items


def add_hold(session: Session, *, order_id: str, kind: str, rule: str, reason: str, figures: Mapping[str, str],
             at: datetime, accepted: Contract | None = None, resume_status: str | None = None) -> None:
    session.execute(insert(_HOLDS).values(
        order_id=order_id, kind=kind, rule=rule, reason=reason, figures_json=json.dumps(dict(figures)), at=at,
        accepted_json=accepted.model_dump_json() if accepted is not None else None, resume_status=resume_status,
        release_note=""))


def latest_hold(session: Session, order_id: str, kind: str | None = None) -> Any | None:
    """The order's latest hold or attention item (of `kind` when given), columns by name."""
    query = select(_HOLDS).where(_HOLDS.c.order_id == order_id).order_by(_HOLDS.c.id.desc()).limit(1)
    if kind is not None:
        query = query.where(_HOLDS.c.kind == kind)
    return session.execute(query).first()


def mark_released(session: Session, hold_id: int, *, by: str, note: str, at: datetime) -> None:
    session.execute(update(_HOLDS).where(_HOLDS.c.id == hold_id)
                    .values(released_at=at, released_by=by, release_note=note))


_OPEN = or_(and_(_HOLDS.c.kind == HOLD, _RECORDS.c.status == HELD),
            and_(_HOLDS.c.kind == ATTENTION, _RECORDS.c.status == NEEDS_ATTENTION))


def page_of_open_holds(session: Session, page: PageRequest, after_id: int | None, *, kind: str | None) -> list[Any]:
    """Holds whose order is still held and attention items whose order still needs attention,
    oldest first: each with the order's customer, status, class and paid amount."""
    query = (select(_HOLDS, _RECORDS.c.customer_id, _RECORDS.c.status, _RECORDS.c.priority_class,
                    _RECORDS.c.paid_amount)
             .join(_RECORDS, _RECORDS.c.order_id == _HOLDS.c.order_id)
             .where(_OPEN).order_by(_HOLDS.c.id).limit(page.fetch_limit))
    if kind is not None:
        query = query.where(_HOLDS.c.kind == kind)
    if after_id is not None:
        query = query.where(_HOLDS.c.id > after_id)
    return list(session.execute(query).all())

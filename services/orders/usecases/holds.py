"""The abuse guard at intake, holds and their release, orders needing attention, and the rules in
force (R6; rules: abuse.py; the two states: attention.py; statements: store/holds.py).

A flagged order is accepted but held: intake saves it as `held` and publishes `order.held` (the
rule, the reason in words, its figures) instead of `order.accepted`, so inventory reserves
nothing and logistics ships nothing. Releasing it publishes `order.released`, then the very
`order.accepted` intake would have published (same class and rank), and the order goes on.
Cancelling it takes the ordinary way (lifecycle.py): `order.cancelled`, on which inventory,
having reserved nothing, releases nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlmodel import Session

from services.orders import abuse, store
from services.orders.attention import HELD, NEEDS_ATTENTION
from services.orders.domain import ACCEPTED
from services.orders.origin import origin_of
from services.orders.schemas import aware
from services.orders.schemas_holds import HoldInfo, HoldItem, HoldPage, RulesAnswer
from services.orders.store import holds as holds_store
from shared.contract_types import reason_text
from shared.events import (OrderAccepted, OrderHeld, OrderPlaced, OrderReleased, StockSkuUnknown,
                           describe_validation_error)
from shared.pagination import PageRequest, next_cursor
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SKU_UNKNOWN_RULE = "sku_unknown"


# ---------------------------------------------------------------------------------------------
# Intake


def screen_order(uow: UnitOfWork, order: OrderPlaced) -> list[abuse.Flag]:
    """The rules that say hold for this new order (empty: it goes on), counted from this
    database under the customer's and the address's lock; its delivery address is remembered for
    the orders after it."""
    session, now = uow.session, uow.now
    digest = holds_store.address_digest(order.delivery_address) if order.delivery_address else None
    rules = holds_store.current_rules(session)
    flags: list[abuse.Flag] = []
    if rules is not None and rules.any:
        holds_store.serialise_screening(session, order.customer_id, digest)
        asked = abuse.questions(rules, order, now)
        address_orders, address_customers = (holds_store.address_counts(
            session, digest, order.customer_id, orders_since=asked.address_orders_since,
            customers_since=asked.address_customers_since) if digest is not None else (0, 0))
        history = abuse.History(
            units_before=(holds_store.units_bought(session, order.customer_id, asked.limited_since)
                          if asked.limited_since else {}),
            customer_orders=(holds_store.customer_orders_since(session, order.customer_id, asked.customer_orders_since)
                             if asked.customer_orders_since is not None else 0),
            address_orders=address_orders, address_customers=address_customers,
            returned=holds_store.returned_orders(session, order.customer_id) if asked.returns else (),
        )
        flags = abuse.screen(rules, order, history)
    if digest is not None:
        holds_store.add_address(session, order_id=order.order_id, digest=digest, customer_id=order.customer_id,
                                placed_at=now)
    return flags


def step_note(flags: list[abuse.Flag]) -> str:
    """What the intake step adds for a held order."""
    if not flags:
        return ""
    hold = abuse.hold_of(flags)
    return f"; held by {hold.rule}: {hold.reason}"


def hold_order(uow: UnitOfWork, accepted: OrderAccepted, flags: list[abuse.Flag], *,
               resume_status: str = ACCEPTED) -> None:
    """Intake saved the order as `held`: keep the hold and say so on order.held. `accepted` is
    what intake would have published; the release publishes it then, and the order takes
    `resume_status`."""
    hold = abuse.hold_of(flags)
    reason = reason_text(hold.reason)
    holds_store.add_hold(uow.session, order_id=accepted.order_id, kind=holds_store.HOLD, rule=hold.rule,
                         reason=reason, figures=hold.figures, at=uow.now, accepted=accepted,
                         resume_status=resume_status)
    uow.publish(OrderHeld(order_id=accepted.order_id, customer_id=accepted.customer_id, rule=hold.rule,
                          reason=reason, figures=hold.figures, held_at=uow.now), key=accepted.order_id)
    log.warning("order %s held (%s): %s", accepted.order_id, hold.rule, reason)


# ---------------------------------------------------------------------------------------------
# Release (support, admin)


@dataclass(frozen=True)
class ReleaseHold:
    """POST /orders/{order_id}/release: the order named by the path, the note from the body."""

    order_id: str
    note: str = ""


@dataclass(frozen=True)
class ReleaseResult:
    outcome: str  # released | already_released | unknown | not_held
    status: str = ""
    reason: str = ""


def release_hold(uow: UnitOfWork, request: ReleaseHold) -> ReleaseResult:
    """A held order goes on: order.released, then its order.accepted. Once: a second release
    finds it released and publishes nothing."""
    session, now, order_id = uow.session, uow.now, request.order_id
    status = store.lock_status(session, order_id)
    if status is None:
        return ReleaseResult("unknown", reason=f"no accepted order {order_id}")
    hold = holds_store.latest_hold(session, order_id, holds_store.HOLD)
    if hold is not None and hold.released_at is not None:
        return ReleaseResult("already_released", status=status)
    if status == NEEDS_ATTENTION:
        return ReleaseResult("not_held", status=status, reason=(
            f"order {order_id} needs attention, it is not held: inventory cannot reserve it (a sku the catalogue "
            "does not know), so a release would change nothing; cancel it"))
    if status != HELD or hold is None or hold.accepted_json is None:
        return ReleaseResult("not_held", status=status, reason=(
            f"order {order_id} is {status.replace('_', ' ')}, not held: there is nothing to release"))
    actor = uow.actor
    accepted = OrderAccepted.model_validate_json(hold.accepted_json).model_copy(update={"accepted_at": now})
    resume = hold.resume_status or ACCEPTED
    holds_store.mark_released(session, hold.id, by=str(actor), note=request.note, at=now)
    store.save_status(session, order_id, resume, now)
    who = origin_of(uow)
    store.add_step(session, order_id=order_id, status=resume, outcome="advanced", at=now, recorded_at=now,
                   event_type="order.released", event_id=who.event_id, actor=who.actor,
                   note=f"released from the {hold.rule} hold" + (f": {request.note}" if request.note else ""))
    uow.publish(OrderReleased(order_id=order_id, released_by=reason_text(actor.name)[:200].strip() or "unknown",
                              note=request.note, released_at=now), key=order_id)
    uow.publish(accepted, key=order_id)
    log.info("order %s released by %s", order_id, actor)
    return ReleaseResult("released", status=resume)


# ---------------------------------------------------------------------------------------------
# Needing attention (lifecycle.py calls this when stock.sku_unknown moved an order there)


def note_attention(uow: UnitOfWork, order_id: str, payload: object) -> None:
    if not isinstance(payload, StockSkuUnknown):
        return
    skus = ", ".join(payload.skus)
    holds_store.add_hold(
        uow.session, order_id=order_id, kind=holds_store.ATTENTION, rule=SKU_UNKNOWN_RULE, at=uow.now,
        reason=reason_text(f"inventory does not know sku(s) {skus}: nothing is reserved and nothing waits for "
                           "them; cancel the order, or add the sku(s) to the catalogue and have the platform "
                           "place it again"),
        figures={"skus": skus[:100], "unknown_skus": str(len(payload.skus))})
    log.warning("order %s needs attention: unknown sku(s) %s", order_id, skus)


# ---------------------------------------------------------------------------------------------
# Reads


def hold_info(session: Session, order_id: str) -> HoldInfo | None:
    """The order's latest hold or attention item, for GET /orders/{order_id}."""
    row = holds_store.latest_hold(session, order_id)
    return _info(row) if row is not None else None


def _info(row: object) -> HoldInfo:
    r = row  # columns by name
    return HoldInfo(kind=r.kind, rule=r.rule, reason=r.reason, figures=json.loads(r.figures_json),  # type: ignore[attr-defined]
                    since=aware(r.at), released_at=aware(r.released_at) if r.released_at else None,  # type: ignore[attr-defined]
                    released_by=r.released_by, release_note=r.release_note or "")  # type: ignore[attr-defined]


def open_holds(session: Session, page: PageRequest, *, kind: str | None) -> HoldPage:
    """Held orders and orders needing attention, oldest first, each with its reason."""
    after = page.after_matching(int)
    rows = holds_store.page_of_open_holds(session, page, after[0] if after else None, kind=kind)
    items = [HoldItem(id=r.id, order_id=r.order_id, customer_id=r.customer_id, status=r.status,
                      priority_class=r.priority_class, paid_amount=r.paid_amount, **_info(r).model_dump())
             for r in rows[:page.limit]]
    return HoldPage(items=items, next_cursor=next_cursor(rows, page.limit, lambda r: (r.id,)))


# ---------------------------------------------------------------------------------------------
# The rules in force: the file at start-up, PUT /abuse-rules


def read_rules_file(path: Path) -> abuse.AbuseRules:
    """The rules file, or ValueError with the reason (a bad file stops start-up)."""
    try:
        return abuse.AbuseRules.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"abuse rules file {path}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"abuse rules file {path}: {describe_validation_error(exc)}") from exc


def load_rules_at_start(uow: UnitOfWork, rules: abuse.AbuseRules, source: str) -> str:
    """The file's rules, unless an admin set rules over HTTP: those stand until the next PUT.
    Returns loaded | unchanged | kept."""
    row = holds_store.rules_row(uow.session)
    if row is not None and row.source.startswith("PUT"):
        log.info("abuse rules: keeping those set by %s (version %s); %s not loaded", row.source, row.version, source)
        return "kept"
    if row is not None and row.source == source and row.rules_json == rules.model_dump_json():
        return "unchanged"
    holds_store.save_rules(uow.session, rules, source=source, now=uow.now)
    return "loaded"


def replace_rules(uow: UnitOfWork, rules: abuse.AbuseRules) -> RulesAnswer:
    row = holds_store.save_rules(uow.session, rules, source=f"PUT /abuse-rules by {uow.actor}", now=uow.now)
    log.warning("abuse rules replaced by %s (version %s)", uow.actor, row.version)
    return _rules_answer(row)


def rules_in_force(session: Session) -> RulesAnswer | None:
    row = holds_store.rules_row(session)
    return _rules_answer(row) if row is not None else None


def _rules_answer(row: object) -> RulesAnswer:
    return RulesAnswer(rules=abuse.AbuseRules.model_validate_json(row.rules_json), version=row.version,  # type: ignore[attr-defined]
                       source=row.source, updated_at=aware(row.updated_at))  # type: ignore[attr-defined]

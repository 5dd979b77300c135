"""Promotions (R5): an order's promotions checked against the event's catalogue at intake (the
rules: promotions.py), and the catalogue itself, set by an admin (PUT /promotions) or from
ORDERS_PROMOTIONS_FILE at start-up, read over GET /promotions."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlmodel import Session

from services.orders import promotions
from services.orders.promotion_catalogue import Catalogue, CatalogueView, FirstUnitsHalfPrice
from services.orders.store import promotions as store
from shared.events import OrderPlaced, describe_validation_error
from shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

_PARSED: dict[str, Catalogue] = {}
"""Digest -> catalogue, per process: an order with promotions reads the digest, not the body."""


def check_promotions(uow: UnitOfWork, order: OrderPlaced, *, claim: bool) -> None:
    """Raises promotions.PromotionInvalid (an OrderInvalid) with the reason when the order's
    promotions do not match the catalogue in force. `claim` (the order is being accepted in this
    unit of work): record its first-order coupons and half-price units, so a second use, or a unit
    past the quota, is refused to any later order; nothing is recorded for a refused one. No
    catalogue set: nothing is checked, as before promotions had one (docs/orders.md)."""
    if not promotions.needs_check(order):
        return
    session = uow.session
    catalogue = catalogue_in_force(session)
    if catalogue is None:
        return
    coupons, half_price = promotions.codes_to_look_up(order, catalogue)
    ledger = promotions.Ledger(coupon_uses=store.coupon_uses(session, order.customer_id, coupons),
                               half_price_sold=store.half_price_sold(session, half_price, lock=claim))
    evaluation = promotions.check(order, catalogue, ledger)
    if not claim:
        return
    for code in evaluation.coupons:
        if not store.claim_coupon(session, customer_id=order.customer_id, code=code, order_id=order.order_id,
                                  now=uow.now):
            # Another order of this customer took it after the read above (and committed first).
            raise promotions.PromotionInvalid(f"promotion {code}: first-order coupon already used by customer "
                                              f"{order.customer_id}; once per customer")
    for code, units in evaluation.half_price_units.items():
        if units:
            store.add_half_price_sold(session, code, units)


def catalogue_in_force(session: Session) -> Catalogue | None:
    digest = store.catalogue_digest(session)
    if digest is None:
        return None
    parsed = _PARSED.get(digest)
    if parsed is None:
        stored = store.catalogue(session)
        assert stored is not None  # read in the same transaction as its digest
        parsed = Catalogue.model_validate_json(stored.body_json)
        if len(_PARSED) >= 8:  # catalogues replaced during a run: keep the recent ones only
            _PARSED.clear()
        _PARSED[stored.digest] = parsed
    return parsed


def catalogue_view(session: Session) -> CatalogueView:
    stored = store.catalogue(session)
    uses, sold = store.usage(session)
    if stored is None:
        return CatalogueView(checked=False, promotions=[], coupon_uses=uses, half_price_sold=sold)
    catalogue = Catalogue.model_validate_json(stored.body_json)
    return CatalogueView(checked=True, promotions=catalogue.promotions, source=stored.source, set_by=stored.set_by,
                         set_at=stored.set_at, digest=stored.digest, coupon_uses=uses, half_price_sold=sold)


def replace_catalogue(uow: UnitOfWork, catalogue: Catalogue, *, source: str = "http") -> str:
    """PUT /promotions: the catalogue in force for every order checked after the commit, in every
    instance. Coupon uses and half-price counts stay: what the event sold stays sold. Returns the digest."""
    body = catalogue.model_dump_json()
    digest = hashlib.sha256(body.encode()).hexdigest()
    store.save_catalogue(uow.session, body_json=body, digest=digest, source=source, set_by=str(uow.actor),
                         now=uow.now, half_price_codes=[e.code for e in catalogue.promotions
                                                        if isinstance(e, FirstUnitsHalfPrice)])
    log.info("promotion catalogue set (%s, %d promotions, %s) by %s", source, len(catalogue.promotions),
             digest[:12], uow.actor)
    return digest


def load_catalogue_file(uow: UnitOfWork, path: Path) -> str:
    """At start-up: the file's catalogue is put in force when none is, or when the one in force
    came from a file too and differs (the file was edited). One an admin set with PUT stays: a
    restart does not undo it. A file that cannot be read or breaks the catalogue's rules stops
    the start with the reason. Returns what was done, for the log."""
    try:
        catalogue = Catalogue.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise RuntimeError(f"ORDERS_PROMOTIONS_FILE {path}: {describe_validation_error(exc)}") from exc
    except OSError as exc:
        raise RuntimeError(f"ORDERS_PROMOTIONS_FILE {path}: {exc}") from exc
    stored = store.catalogue(uow.session)
    body = catalogue.model_dump_json()
    if stored is not None and stored.body_json == body:
        return "unchanged"
    if stored is not None and not stored.source.startswith("file:"):
        log.warning("ORDERS_PROMOTIONS_FILE %s not loaded: the catalogue in force was set by %s at %s (PUT "
                    "/promotions); PUT the file's content to use it", path, stored.set_by, stored.set_at)
        return "kept"
    replace_catalogue(uow, catalogue, source=f"file:{path}")
    return "loaded"


def promotions_at_start(runtime: ServiceRuntime, path: Path | None) -> None:
    """Start-up: the file (if set) as `load_catalogue_file` says; without any catalogue in force,
    a warning that promotions go unchecked."""
    with runtime.unit_of_work() as uow:
        if path is not None:
            log.info("promotion catalogue from %s: %s", path, load_catalogue_file(uow, path))
        elif store.catalogue_digest(uow.session) is None:
            log.warning("no promotion catalogue (ORDERS_PROMOTIONS_FILE unset, never PUT /promotions): orders' "
                        "discounts and promotions are not checked against the event's rules (R5)")

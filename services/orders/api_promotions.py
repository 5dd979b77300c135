"""HTTP routes of the event's promotion catalogue (R5): admin sets it, support and the platform
read it (access.py)."""

from __future__ import annotations

from fastapi import APIRouter

from services.orders.promotion_catalogue import Catalogue, CatalogueView
from services.orders.usecases import promotions as usecases
from shared.db import read_session
from shared.http_app import RuntimeDep, Work
from shared.http_problems import ContractRoute

router = APIRouter(tags=["promotions"], route_class=ContractRoute)


@router.get("/promotions", response_model=CatalogueView)
def get_promotions(runtime: RuntimeDep) -> CatalogueView:
    """The catalogue in force (`checked: false` and no promotions until one is set), with the
    first-order coupons used and the half-price units sold so far."""
    with read_session(runtime.engine) as session:
        return usecases.catalogue_view(session)


@router.put("/promotions", response_model=CatalogueView)
def put_promotions(catalogue: Catalogue, work: Work) -> CatalogueView:
    """Replaces the whole catalogue, for every order checked from now on, in every instance (kept
    in the database: a restart keeps it too). A body breaking the catalogue's rules is a 422
    naming the entry and field; nothing changes."""
    with work() as uow:
        usecases.replace_catalogue(uow, catalogue)
        return usecases.catalogue_view(uow.session)

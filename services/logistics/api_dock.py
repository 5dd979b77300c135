"""The dock (issue 30): parcels packed and waiting for their carrier, each with the carrier the
rules suggest, so a collection can be handed over at once (POST /shipments/ship-batch)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.logistics import store, views
from services.logistics.api import Policy, WarehouseQuery
from services.logistics.schemas import Moment, ShipmentSummary
from shared.db import read_session
from shared.events import DEFAULT_WAREHOUSE
from shared.http_app import RuntimeDep

router = APIRouter(tags=["logistics"])


class DockView(BaseModel):
    now: Moment
    packed: int
    shipments: list[ShipmentSummary]


@router.get("/dock", response_model=DockView)
def get_dock(runtime: RuntimeDep, policy: Policy, limit: int = Query(default=500, ge=1, le=5000),
             warehouse: WarehouseQuery = DEFAULT_WAREHOUSE) -> DockView:
    """A warehouse's packed shipments in dispatch order (up to `limit`), with their suggested
    carrier, and how many are packed in all."""
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        rows, count = store.packed(session, limit, warehouse)
        return DockView(now=now, packed=count, shipments=views.summaries(session, rows, now, policy.desk))

"""Finding shipments: `GET /shipments?order_id=&tracking_number=` (the console's order 360 finds
an order by the tracking number a customer reads out). Roles: access.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from services.logistics import store, views
from services.logistics.api import Policy
from services.logistics.schemas import ShipmentDetail, Tracking
from shared.db import read_session
from shared.contract_types import EntityId
from shared.http_app import RuntimeDep
from shared.http_problems import problem_responses
from shared.pagination import PageRequest, next_cursor, page_request

router = APIRouter(tags=["logistics"])


class ShipmentPage(BaseModel):
    items: list[ShipmentDetail] = Field(description="Oldest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


@router.get("/shipments", response_model=ShipmentPage, responses=problem_responses(400))
def find_shipments(runtime: RuntimeDep, policy: Policy, page: PageRequest = Depends(page_request),
                   order_id: Annotated[EntityId | None, Query(description="An order's shipments")] = None,
                   tracking_number: Annotated[Tracking | None, Query(description="Any carrier's")] = None,
                   ) -> ShipmentPage:
    """Shipments of an order and/or with a tracking number, a page at a time (every shipment
    when neither is given)."""
    after = page.after_matching(datetime, str)
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        rows = store.search(session, order_id=order_id, tracking_number=tracking_number, fetch=page.fetch_limit,
                            after=after)
        return ShipmentPage(items=[views.detail_of(session, s, now, policy.desk) for s in rows[:page.limit]],
                            next_cursor=next_cursor(rows, page.limit, store.search_key))

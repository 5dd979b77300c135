"""HTTP routes of the stock snapshots (R12): the list, one snapshot's rows, and its CSV export.
Snapshots are taken by the job in stock_snapshots.py; these routes only read them. Who may call
which route: access.py."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.inventory import store
from services.inventory.models import InventoryStockSnapshot, InventoryStockSnapshotRow
from services.inventory.schemas import Moment
from services.inventory.stock_cover import csv_text
from shared.db import read_session
from shared.http_app import RuntimeDep
from shared.http_problems import Problem
from shared.pagination import PageRequest, next_cursor, page_request

Page = Annotated[PageRequest, Depends(page_request)]
SnapshotId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A snapshot's id (GET /stock/snapshots)")]

router = APIRouter(tags=["stock snapshots"])


class SnapshotSummary(BaseModel):
    id: int
    slot_start: Moment = Field(description="Start of the slot (setting stock_snapshot_period_hours, 2 h) it stands for")
    taken_at: Moment = Field(description="When it was taken, by the service clock")
    period_hours: float
    sku_count: int


class SnapshotPage(BaseModel):
    snapshots: list[SnapshotSummary] = Field(description="Newest first")
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last page")


class SnapshotRow(BaseModel):
    sku: str
    name: str
    on_hand: int
    reserved: int
    available: int
    mode: str
    sell_rate_per_hour: float
    cover_hours: float | None = Field(description="Hours the available units lasted at the sell rate; "
                                                  "null when nothing sold")
    replenishment_request_id: str | None = Field(description="The replenishment request open then, if any")
    replenishment_quantity: int | None


class SnapshotDetail(SnapshotSummary):
    rows: list[SnapshotRow] = Field(description="This page of rows, in sku order")
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last page")


CSV_SCHEMA = {"schema": {"type": "string"}}
CSV_COLUMNS = ("sku", "name", "on_hand", "reserved", "available", "mode", "sell_rate_per_hour", "cover_hours",
               "replenishment_request_id", "replenishment_quantity")


def summary(snapshot: InventoryStockSnapshot) -> SnapshotSummary:
    return SnapshotSummary(id=snapshot.id or 0, slot_start=snapshot.slot_start, taken_at=snapshot.taken_at,
                           period_hours=round(snapshot.period_s / 3600, 4), sku_count=snapshot.sku_count)


def row_answer(row: InventoryStockSnapshotRow) -> SnapshotRow:
    return SnapshotRow.model_validate(row, from_attributes=True)


@router.get("/stock/snapshots", response_model=SnapshotPage)
def list_snapshots(runtime: RuntimeDep, page: Page) -> SnapshotPage:
    """The 2-hourly stock snapshots, newest first."""
    after = page.after_matching(int)
    with read_session(runtime.engine) as session:
        rows = store.snapshots_before(session, after[0] if after else None, page.fetch_limit)
        return SnapshotPage(snapshots=[summary(s) for s in rows[:page.limit]],
                            next_cursor=next_cursor(rows, page.limit, lambda s: (s.id,)))


@router.get("/stock/snapshots/{snapshot_id}.csv", response_class=Response,
            responses={200: {"content": {"text/csv": CSV_SCHEMA}, "description": "Every row of the snapshot as CSV"}})
def snapshot_csv(snapshot_id: SnapshotId, runtime: RuntimeDep) -> Response:
    """The whole snapshot as CSV (a header line, then one line per sku). Text cells that a
    spreadsheet would run as a formula (starting with = + - @) are prefixed with '."""
    return _csv(runtime, snapshot_id)


@router.get("/stock/snapshots/{snapshot_id}", response_model=SnapshotDetail,
            responses={200: {"content": {"text/csv": CSV_SCHEMA}, "description": "With format=csv: the CSV export"}})
def get_snapshot(snapshot_id: SnapshotId, runtime: RuntimeDep, page: Page,
                 format: Annotated[Literal["json", "csv"], Query(description="csv: the whole snapshot as CSV "
                                                                             "(as /stock/snapshots/{id}.csv)")] = "json"
                 ) -> Any:
    """One snapshot with its rows in sku order, a page at a time."""
    if format == "csv":
        return _csv(runtime, snapshot_id)
    after = page.after_matching(str)
    with read_session(runtime.engine) as session:
        snapshot = _load(session, snapshot_id)
        rows = store.snapshot_rows(session, snapshot_id, after_sku=after[0] if after else None,
                                   limit=page.fetch_limit)
        return SnapshotDetail(**summary(snapshot).model_dump(), rows=[row_answer(r) for r in rows[:page.limit]],
                              next_cursor=next_cursor(rows, page.limit, lambda r: (r.sku,)))


def _load(session: Any, snapshot_id: int) -> InventoryStockSnapshot:
    snapshot = store.load_snapshot(session, snapshot_id)
    if snapshot is None:
        raise Problem(404, "not-found", f"no stock snapshot {snapshot_id}")
    return snapshot


def _csv(runtime: Any, snapshot_id: int) -> Response:
    with read_session(runtime.engine) as session:
        snapshot = _load(session, snapshot_id)
        rows = store.snapshot_rows(session, snapshot_id, after_sku=None, limit=None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
    name = f"stock-snapshot-{snapshot.slot_start.strftime('%Y%m%dT%H%MZ')}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return csv_text(value) if isinstance(value, str) else value

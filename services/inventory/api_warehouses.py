"""HTTP routes of the warehouses (issue 34): read them, an admin's edit of one (the same strict
rules as the warehouses file: services/inventory/warehouses.py), and transfers between them
(usecases_transfers.py). Who may: access.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.inventory import store
from services.inventory import usecases_transfers as transfers
from services.inventory.api import PolicyDep
from services.inventory.schemas import (
    TransferAnswer,
    TransferBody,
    TransferList,
    WarehouseAnswer,
    WarehouseBody,
    WarehouseList,
    WarehousePut,
)
from services.inventory.warehouses import WarehousesInvalid, as_record, parse_warehouse
from shared.contract_types import EntityId
from shared.db import read_session
from shared.http_app import RuntimeDep, Work
from shared.http_problems import Problem

router = APIRouter(tags=["inventory"])


@router.get("/warehouses", response_model=WarehouseList)
def list_warehouses(runtime: RuntimeDep) -> WarehouseList:
    """Every warehouse by position."""
    with read_session(runtime.engine) as session:
        return WarehouseList(warehouses=[WarehouseAnswer(**as_record(w)) for w in store.all_warehouses(session)])


@router.put("/warehouses/{warehouse_id}", response_model=WarehousePut)
def put_warehouse(warehouse_id: EntityId, body: WarehouseBody, work: Work) -> WarehousePut:
    """Create a warehouse or replace its fields (regions, reaches, carriers, pickers, position).
    Never deletes one: a warehouse may hold stock. Idempotent: the same body again changes nothing."""
    with work() as uow:
        existing = {w.id: w for w in store.all_warehouses(uow.session)}
        position = body.position
        if position is None:
            known = existing.get(warehouse_id)
            position = known.position if known is not None else 1 + max((w.position for w in existing.values()),
                                                                          default=-1)
        record = body.model_dump(exclude_none=True) | {"position": position}
        try:
            warehouse = parse_warehouse(record, "body", warehouse_id=warehouse_id)
        except WarehousesInvalid as exc:
            raise Problem(422, "invalid-request", str(exc)) from exc
        outcome = store.save_warehouse(uow.session, warehouse, now=uow.now)
    store.forget_ranking()  # committed: no decision keeps the old table from here on
    return WarehousePut(outcome=outcome, **as_record(warehouse))


# ---------------------------------------------------------------------------------------------
# Transfers


def _answer(row: Any, outcome: str | None = None) -> TransferAnswer:
    return TransferAnswer(transfer_id=row.transfer_id, sku=row.sku, quantity=row.quantity, from_=row.from_warehouse,
                          to=row.to_warehouse, status=row.status, requested_by=row.requested_by,
                          requested_at=row.requested_at, confirmed_at=row.confirmed_at, received_at=row.received_at,
                          outcome=outcome)


def _json(answer: TransferAnswer, status: int = 200) -> JSONResponse:
    return JSONResponse(answer.model_dump(mode="json", by_alias=True), status_code=status)


def _run(action: Any) -> TransferAnswer:
    try:
        outcome, row = action()
    except transfers.TransferConflict as exc:
        raise Problem(409, "conflict", str(exc)) from exc
    except LookupError as exc:
        raise Problem(404, "not-found", str(exc)) from exc
    return _answer(row, outcome)


@router.post("/transfers", status_code=201, response_model=TransferAnswer)
def post_transfer(body: TransferBody, work: Work) -> JSONResponse:
    """Ask for units of a sku to move from one warehouse to another; an admin confirms. The same
    id again with the same figures answers the transfer as it stands (200); with others, 409."""
    with work() as uow:
        answer = _run(lambda: transfers.request_transfer(
            uow, transfer_id=body.transfer_id, sku=body.sku, quantity=body.quantity, from_warehouse=body.from_,
            to_warehouse=body.to))
    return _json(answer, 201 if answer.outcome == "created" else 200)


@router.post("/transfers/{transfer_id}/confirm", response_model=TransferAnswer)
def confirm_transfer(transfer_id: EntityId, work: Work, policy: PolicyDep) -> JSONResponse:
    """Admin: the units are reserved out of `from` (409 when fewer are available there), in transit."""
    with work() as uow:
        answer = _run(lambda: transfers.confirm_transfer(uow, transfer_id, policy))
    return _json(answer)


@router.post("/transfers/{transfer_id}/receive", response_model=TransferAnswer)
def receive_transfer(transfer_id: EntityId, work: Work, policy: PolicyDep) -> JSONResponse:
    """The units arrive: out of `from`'s on hand, into `to`'s; waiting orders there are filled."""
    with work() as uow:
        answer = _run(lambda: transfers.receive_transfer(uow, transfer_id, policy))
    return _json(answer)


@router.get("/transfers", response_model=TransferList)
def list_transfers(runtime: RuntimeDep) -> JSONResponse:
    """The latest 500 transfers, newest first."""
    with read_session(runtime.engine) as session:
        rows = store.transfers(session, 500)
    return JSONResponse({"transfers": [_answer(r).model_dump(mode="json", by_alias=True) for r in rows]})

"""HTTP routes of the warehouses (issue 34): read them, and an admin's edit of one (the same
strict rules as the warehouses file: services/inventory/warehouses.py). Who may: access.py."""

from __future__ import annotations

from fastapi import APIRouter

from services.inventory import store
from services.inventory.schemas import WarehouseAnswer, WarehouseBody, WarehouseList, WarehousePut
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

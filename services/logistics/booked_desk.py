"""The carrier rules table as it stands on a warehouse day: the file's capacities, with that day's
confirmed bookings (issue 32) in place of theirs. Carrier choice and its suggestions read it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.logistics import bookings, plan_store
from services.logistics.carriers import CarrierDesk, CarrierTable


def table_on(session: Session, desk: CarrierDesk, now: datetime) -> CarrierTable:
    """Kept on the session (one request or transaction): a queue page asks once per shipment."""
    day = desk.day(now)
    key = ("logistics.booked_table", day)
    table = session.info.get(key)
    if table is None:
        table = bookings.table_for_day(desk.table, plan_store.confirmed_on(session, day))
        session.info[key] = table
    return table

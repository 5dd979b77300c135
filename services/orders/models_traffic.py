"""Tables of traffic counted by the platform (topic platform.traffic, issue 30): the visitors per
window that conversion (orders / visitors) is computed from; services/orders/traffic.py has the
rules, store/traffic.py the statements."""

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel



class OrderTrafficWindow(SQLModel, table=True):
    """One window's visitors, named by its start and length; a corrected figure replaces the count.

    The window's start and end are also kept as whole microseconds since the epoch, so the series
    can tell in SQL which windows lie inside a bucket (integer division, the same on SQLite and
    PostgreSQL)."""

    __tablename__ = "order_traffic_window"

    window_start: datetime = Field(primary_key=True)
    window_seconds: int = Field(primary_key=True)
    start_us: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    end_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    visitors: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_id: str  # the event whose figure is kept
    counted_at: datetime  # that event's time: an older correction arriving late does not replace a newer one
    recorded_at: datetime
    corrections: int = 0  # figures replaced so far for this window


TRAFFIC_TABLES = [OrderTrafficWindow.__table__]

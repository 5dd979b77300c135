"""The HTTP contract of GET /stats/series (issue 30): amounts are decimal strings with two places,
conversion a decimal string with six, times ISO 8601 with their UTC offset."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from services.orders.schemas import Moment
from shared.money import Money

Ratio = Annotated[Decimal, PlainSerializer(lambda value: str(value), return_type=str, when_used="json"),
                  WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{6}$",
                                  "description": "orders per visitor, six decimal places"})]


class SeriesPoint(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    start: Moment
    """Start of the bucket; it holds [start, start + bucket)"""
    orders: int
    """Orders paid in the bucket (cancelled ones and deposits forfeited left out, as in /stats)"""
    gmv: Money
    """GMV gross of those orders"""
    gmv_net: Money
    """GMV net of what was refunded on them"""
    average_basket: Money | None
    """GMV gross / orders; null without orders"""
    visitors: int | None
    """Visitors of the traffic windows lying wholly inside the bucket; null when none was counted"""
    conversion: Ratio | None
    """orders / visitors; null without traffic (or with 0 visitors)"""


class SeriesTotals(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    orders: int
    gmv: Money
    gmv_net: Money
    average_basket: Money | None
    visitors: int | None
    orders_with_traffic: int
    """Orders in the buckets that had a traffic figure: conversion's numerator"""
    conversion: Ratio | None


class OrdersSeries(BaseModel):
    bucket: str
    since: Moment
    until: Moment
    now: Moment
    points: list[SeriesPoint]
    totals: SeriesTotals

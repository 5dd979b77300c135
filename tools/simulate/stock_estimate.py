"""The planner's estimate of the orders that will wait for stock, for the plan logistics forecasts
from (its `stock_waits`, issue 32 point 4). Made before the first order from what a planner has:
the catalogue (stock on hand, planned stock, tier), the expected orders, and the suppliers' lead
times. Whether a change of stock asks a supplier is inventory's own rule (`stock_signals`: below
20% of planned stock a replenishment of planned - available, a profit item that sells out asks
at once, urgently); the rest is in outline, per sku in order of payment:

- an order line is reserved from stock when there is enough, else it waits (backordered); lines
  are taken one by one (inventory reserves an order all or nothing: an order short of one sku
  holds none of the others there, which the estimate does not model);
- a request is delivered after the tier's lead time (the simulator's suppliers; urgent ones in
  `urgent_factor` of it);
- a delivery fills the waiting lines first come first served (inventory goes by priority rank:
  the estimate does not model that), the rest goes back to stock.

An order waits as long as its slowest line. Waits are grouped in whole hours (coarser when there
are many) into at most `MAX_WAITS` shares of the orders from the first hour anything waits.
Orders still waiting at the end wait `NEVER_H` hours: they ship on no forecast day."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from services.inventory.domain import InventoryPolicy, RequestReplenishment, SkuState, stock_signals
from tools.simulate import model

MAX_WAITS = 40
NEVER_H = 24 * 31


@dataclass
class _Sku:
    tier: str
    planned: int
    available: int
    waiting: deque[tuple[int, int]] = field(default_factory=deque)  # (order index, units) in order
    open_requests: list[bool] = field(default_factory=list)  # urgent? for each request not delivered yet


def order_waits(orders: list[model.Order], catalog: Iterable[model.CatalogRow], lead_time_h: Mapping[str, float],
                urgent_factor: float, policy: InventoryPolicy | None = None) -> list[float]:
    """Hours each order waits for stock (0: all lines in stock when paid)."""
    policy = policy or InventoryPolicy()
    skus = {row.sku.sku: _Sku(row.sku.tier, row.planned_stock, row.on_hand) for row in catalog}
    filled_at = [order.paid_at for order in orders]  # the latest delivery one of its lines waited for
    pending = [0] * len(orders)  # lines still waiting
    deliveries: list[tuple[datetime, int, str, int, bool]] = []  # (at, seq, sku, units, urgent)
    seq = 0

    def ask(sku: str, state: _Sku, now: datetime, sold_out: bool) -> None:
        """Inventory's own rule (R9, R10) decides whether this change of stock asks a supplier."""
        nonlocal seq
        urgent_open = any(state.open_requests) if state.open_requests else None
        view = SkuState(sku=sku, tier=state.tier, planned_stock=state.planned, available=state.available,
                        mode="in_stock", open_request_urgent=urgent_open)
        for signal in stock_signals(view, now, policy, sold_out=sold_out):
            if isinstance(signal, RequestReplenishment):
                lead = lead_time_h.get(state.tier, 24.0) * (urgent_factor if signal.urgent else 1)
                seq += 1
                heapq.heappush(deliveries, (now + timedelta(hours=lead), seq, sku, signal.quantity, signal.urgent))
                state.open_requests.append(signal.urgent)

    def deliver_until(moment: datetime) -> None:
        while deliveries and deliveries[0][0] <= moment:
            at, _, sku, units, urgent = heapq.heappop(deliveries)
            state = skus[sku]
            state.open_requests.remove(urgent)
            while state.waiting and units > 0:
                index, wanted = state.waiting[0]
                take = min(units, wanted)
                units -= take
                if take == wanted:
                    state.waiting.popleft()
                    pending[index] -= 1
                    filled_at[index] = max(filled_at[index], at)
                else:
                    state.waiting[0] = (index, wanted - take)
            state.available += units
            ask(sku, state, at, sold_out=bool(state.waiting) or state.available == 0)

    for index in sorted(range(len(orders)), key=lambda i: orders[i].paid_at):
        order = orders[index]
        deliver_until(order.paid_at)
        for line in order.lines:
            state = skus.get(line.sku)
            if state is None:
                continue
            if not state.waiting and state.available >= line.quantity:
                state.available -= line.quantity
                sold_out = state.available == 0
            else:
                state.waiting.append((index, line.quantity))
                pending[index] += 1
                sold_out = True
            ask(line.sku, state, order.paid_at, sold_out)
    if orders:
        deliver_until(datetime.max.replace(tzinfo=orders[0].paid_at.tzinfo))
    return [NEVER_H if left else min((at - o.paid_at).total_seconds() / 3600, NEVER_H)
            for at, left, o in zip(filled_at, pending, orders, strict=True)]


def stock_waits(orders: list[model.Order], waits: list[float], start: datetime) -> list[dict]:
    """The plan's `stock_waits` from each order's wait: shares (two decimals, rounded down so they
    never add up past 100) of the orders paid from the first hour with a wait."""
    hours = [int((o.paid_at - start).total_seconds() // 3600) for o in orders]
    waiting = [(h, w) for h, w in zip(hours, waits, strict=True) if w > 0]
    if not waiting:
        return []
    first = min(h for h, _ in waiting)
    base = sum(1 for h in hours if h >= first)
    whole = [min(NEVER_H, max(1, math.ceil(w))) for _, w in waiting]
    step = 1
    while len({-(-w // step) for w in whole}) > MAX_WAITS:
        step *= 2
    counts: dict[int, int] = {}
    for w in whole:
        bucket = min(NEVER_H, -(-w // step) * step)
        counts[bucket] = counts.get(bucket, 0) + 1
    rows = []
    for hours_waited, count in sorted(counts.items()):
        share = (Decimal(count * 100) / base).quantize(Decimal("0.01"), ROUND_DOWN)
        if share > 0:
            rows.append({"share_pct": str(share), "hours": hours_waited, "from_hour": first})
    return rows

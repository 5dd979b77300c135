"""The actors outside the platform: suppliers, warehouse staff, carriers, customers and support
agents. `ActorsAtWork` is mixed into `engine.Simulation`; it uses the platform calls of
`platform.PlatformControl` (call, publish) and the simulation's schedule and random sources."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tools.simulate import model
from tools.simulate.platform import detail

@dataclass
class Actors:
    tick_minutes: float = 60.0
    lead_time_h: dict[str, float] = field(default_factory=lambda: {"traffic_driver": 36.0, "profit": 24.0,
                                                                    "hot": 72.0})
    urgent_lead_factor: float = 0.5
    pickers: int = 6
    picks_per_hour: int = 30
    wave_size: int = 40
    delivery_h: tuple[float, float] = (18.0, 60.0)
    remote_extra_h: float = 24.0
    delay_rate: float = 0.04
    delay_extra_h: tuple[float, float] = (24.0, 48.0)
    damage_rate: float = 0.015
    return_rate: float = 0.08
    exchange_share: float = 0.2
    dispute_rate: float = 0.05
    inspection_pass_rate: float = 0.9
    return_after_h: tuple[float, float] = (4.0, 96.0)
    return_transit_h: tuple[float, float] = (12.0, 48.0)
    agents: int = 3
    cases_per_agent_hour: float = 6.0


@dataclass(order=True)
class Due:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


class Budget:
    """Work that staff can do per simulated hour; unused time is not banked."""

    def __init__(self, per_hour: float) -> None:
        self.per_hour = per_hour
        self.left = 0.0

    def refill(self, hours: float) -> None:
        self.left = (self.left % 1.0) + self.per_hour * hours

    def take(self, n: int = 1) -> bool:
        if self.left >= n:
            self.left -= n
            return True
        return False



class ActorsAtWork:
    """Suppliers, staff, carriers, customers and agents (mixed into engine.Simulation)."""

    # -- suppliers -----------------------------------------------------------------------------

    def answer_replenishments(self) -> None:
        for request in self.watcher.take_new_replenishments():
            tier = self.tier_of.get(request["sku"], "profit")
            lead = self.actors.lead_time_h.get(tier, 24.0) * (self.actors.urgent_lead_factor if request["urgent"] else 1)
            at = datetime.fromisoformat(request["requested_at"]) + timedelta(hours=lead)
            self.schedule(max(at, self.now), "supplier_delivery", sku=request["sku"], quantity=request["quantity"],
                          request_id=request["request_id"], warehouse=request.get("warehouse"))
            self.counts["replenishments_answered"] += 1

    def handle_due(self, item: Due) -> None:
        d = item.data
        if item.kind == "supplier_delivery":
            delivery = {"delivery_id": f"DLV-{d['request_id']}", "sku": d["sku"], "quantity": d["quantity"],
                        "delivered_at": item.at.isoformat()}
            if d.get("warehouse"):  # to the warehouse that asked (issue 34)
                delivery["warehouse"] = d["warehouse"]
            self.publish("supplier.deliveries", "supplier.delivery", delivery, d["sku"], "supplier")
            self.counts["supplier_deliveries"] += 1
            self.counts["supplier_units"] += d["quantity"]
        elif item.kind == "cancel":
            self.publish("platform.orders", "order.cancellation_requested",
                         {"order_id": d["order_id"], "reason": "customer changed their mind"}, d["order_id"], "checkout")
            self.counts["cancel_requests"] += 1
        elif item.kind == "carrier_delivery":
            self.publish("carrier.events", "carrier.delivery",
                         {"carrier": d["carrier"], "tracking_number": d["tracking"],
                          "delivered_at": item.at.isoformat()}, d["tracking"], f"carrier-{d['carrier']}")
            self.counts["carrier_deliveries"] += 1
            if d.get("delayed"):  # its exception case can be closed once the parcel is there
                self.desk_may_hold_work = max(self.desk_may_hold_work, 2)
            if d.get("returnable"):
                self.maybe_return(d["order_id"], item.at)
        elif item.kind == "carrier_exception":
            r = self.call("logistics", "POST", f"/shipments/{d['shipment_id']}/exception",
                          json={"kind": d["exception"], "note": d["note"], "reported_by": f"carrier-{d['carrier']}"})
            if r.status_code == 201:
                self.counts[f"exceptions_{d['exception']}"] += 1
                self.desk_may_hold_work = max(self.desk_may_hold_work, 2)  # aftersales opens a case
            else:
                self.refusals[f"exception {r.status_code}: {detail(r)[:80]}"] += 1
        elif item.kind == "return_request":
            self.request_return(item)
        elif item.kind == "return_arrives":
            self.arrived_returns.add(d["case_id"])
            self.desk_may_hold_work = max(self.desk_may_hold_work, 1)

    # -- warehouse staff and carriers ----------------------------------------------------------

    def warehouse(self) -> int:
        """Pick in waves, pack, hand over: as many shipments as each warehouse's pickers manage
        this tick (one warehouse, `main`, unless the run has several)."""
        if self.queue_looks <= 0 and not self.packed_waiting:
            return 0
        packed: list[dict] = self.packed_waiting
        self.packed_waiting = []
        emptied = [self.pick_waves(staffed, packed) for staffed in self.staffed]
        if all(emptied):
            self.queue_looks -= 1  # every warehouse's queue is empty
        return self.hand_over(packed)

    def pick_waves(self, staffed, packed: list[dict]) -> bool:
        """One warehouse's pickers take waves of its shipments while their hour lasts; True when
        its queue ran dry."""
        a = self.actors
        several = len(self.staffed) > 1
        for picker in itertools.cycle(range(staffed.pickers)):
            want = min(a.wave_size, int(staffed.pick.left))
            if want <= 0:
                # the pickers' hour is used up with the queue not seen empty: pickers bind (grid report)
                self.tick_staff["picker_bound"] = 1
                return False
            if self.wall_left() <= 0:
                return False
            body = {"size": want, "picker_id": f"{staffed.warehouse + '-' if several else ''}picker-{picker + 1}"}
            if several:
                body["warehouse"] = staffed.warehouse
            r = self.call("logistics", "POST", "/waves", json=body)
            if r.status_code != 201:
                self.refusals[f"wave {r.status_code}"] += 1
                return False
            wave = r.json()
            self.counts["waves"] += 1 if wave["size"] else 0
            packing = [self.pool.submit(self.call, "logistics", "POST", f"/shipments/{s['shipment_id']}/pack",
                                        json={"picker_id": wave["picker_id"]}) for s in wave["shipments"]]
            for shipment, future in zip(wave["shipments"], packing):
                staffed.pick.take()
                p = future.result()
                if p.status_code == 200:
                    packed.append(shipment)
                else:
                    self.refusals[f"pack {p.status_code}: {detail(p)[:80]}"] += 1
            if wave["size"] < want:
                return True
        return False

    def hand_over(self, packed: list[dict]) -> int:
        """The packed parcels to the carriers, in collections of at most 500."""
        shipped = 0
        for chunk in (packed[i:i + 500] for i in range(0, len(packed), 500)):
            by_id = {s["shipment_id"]: s for s in chunk}
            r = self.call("logistics", "POST", "/shipments/ship-batch", json={"parcels": [
                {"shipment_id": s["shipment_id"], "tracking_number": f"T{self.prefix[4:10].upper()}{next(self.tracking):09d}"}
                for s in chunk]})
            if r.status_code != 200:
                raise RuntimeError(f"ship-batch: {r.status_code} {r.text[:300]}")
            body = r.json()
            for done in body["shipped"]:
                shipment = by_id[done["shipment_id"]]
                self.after_handover(shipment, done["carrier"], done["tracking_number"])
                shipped += 1
                if shipment.get("replacement_for_case") is None:  # an order's first part counts it
                    self.customer_shipped += shipment["order_id"] not in self.shipped_orders
                    self.shipped_orders.add(shipment["order_id"])
            self.tick_staff["carrier_refused"] += len(body["refused"])  # carriers full today (grid report)
            for refused in body["refused"]:
                self.refusals[f"hand-over: {refused['reason'][:80]}"] += 1
                self.packed_waiting.append(by_id[refused["shipment_id"]])
        self.counts["shipped"] += shipped
        return shipped + len(packed)

    def after_handover(self, shipment: dict, carrier: str, tracking: str) -> None:
        """The carrier's part: transit time, and now and then a delay or damage."""
        a, rng = self.actors, self.rng_for("carrier", shipment["shipment_id"])
        transit = rng.uniform(*a.delivery_h) + (a.remote_extra_h if shipment["region"] in model.REMOTE_REGIONS else 0)
        delivered_at = self.now + timedelta(hours=transit)
        base = {"shipment_id": shipment["shipment_id"], "carrier": carrier}
        delayed = rng.random() < a.delay_rate
        if delayed:
            self.schedule(self.now + timedelta(hours=transit * 0.8), "carrier_exception", exception="delayed",
                          note="held at the sorting centre", **base)
            delivered_at += timedelta(hours=rng.uniform(*a.delay_extra_h))
        replacement = shipment.get("replacement_for_case") is not None
        damaged = rng.random() < a.damage_rate
        if damaged:
            self.schedule(delivered_at + timedelta(hours=1), "carrier_exception", exception="damaged",
                          note="parcel crushed in transit", **base)
            self.damaged_orders.add(shipment["order_id"])
        self.schedule(delivered_at, "carrier_delivery", tracking=tracking, order_id=shipment["order_id"],
                      returnable=not replacement and not damaged, delayed=delayed, **base)

    # -- customers and support agents ----------------------------------------------------------

    def maybe_return(self, order_id: str, delivered_at: datetime) -> None:
        order = self.order_by_id.get(order_id)
        a, rng = self.actors, self.rng_for("customer", order_id)
        if order is None or rng.random() >= a.return_rate:
            return
        paid = [line for line in order.lines if not line.gift]
        line = rng.choice(paid)
        self.schedule(delivered_at + timedelta(hours=rng.uniform(*a.return_after_h)), "return_request",
                      order_id=order_id, sku=line.sku, quantity=line.quantity,
                      kind="exchange" if rng.random() < a.exchange_share else "return",
                      dispute=rng.random() < a.dispute_rate, attempt=0)

    def request_return(self, item: Due) -> None:
        d = item.data
        r = self.call("aftersales", "POST", "/returns", json={
            "order_id": d["order_id"], "kind": d["kind"], "lines": [{"sku": d["sku"], "quantity": d["quantity"]}],
            "reason": "changed my mind" if not d["dispute"] else "item not as described", "dispute": d["dispute"]})
        if r.status_code == 201:
            self.desk_may_hold_work = max(self.desk_may_hold_work, 2)
            self.counts["cases_opened_by_customers"] += 1
            self.counts[f"requested_{d['kind']}"] += 1
        elif r.status_code == 409 and d["attempt"] < 8 and any(w in r.text for w in ("not been delivered", "not reached")):
            # aftersales has not heard of the delivery yet: the customer tries again a little later
            self.schedule(self.now + timedelta(minutes=self.actors.tick_minutes), "return_request",
                          **{**d, "attempt": d["attempt"] + 1})
        else:
            self.refusals[f"return {r.status_code}: {detail(r)[:80]}"] += 1

    def open_cases(self, most: int) -> list[dict]:
        """The desk's queue as aftersales orders it, page after page (next_cursor), up to `most`."""
        cases: list[dict] = []
        params: dict[str, object] = {"limit": 1000}
        while len(cases) < most:
            page = self.call("aftersales", "GET", "/cases", params=params).json()
            cases += page["cases"]
            if not page.get("next_cursor"):
                break
            params = {"limit": 1000, "cursor": page["next_cursor"]}
        return cases[:most]

    def support_desk(self) -> int:
        """Agents work through the open cases in the order aftersales gives them (disputes first)."""
        if self.support.left < 1 or self.desk_may_hold_work <= 0:
            return 0
        cases = self.open_cases(most=5000)
        self.desk_may_hold_work -= 1
        done = 0
        for case in cases[:5000]:
            if self.support.left < 1 or self.wall_left() <= 0:
                self.desk_may_hold_work = max(self.desk_may_hold_work, 1)  # work left for the next tick
                break
            steps = self.next_steps(case)
            for step, body in steps:
                if not self.support.take():
                    break
                r = self.call("aftersales", "POST", f"/cases/{case['case_id']}/{step}", json=body)
                if r.status_code != 200:
                    self.refusals[f"{step} {r.status_code}: {detail(r)[:80]}"] += 1
                    if step in ("refund", "exchange"):
                        self.call("aftersales", "POST", f"/cases/{case['case_id']}/reject",
                                  json={"reason": f"{step} not possible: {detail(r)[:200]}".strip()})
                    break
                done += 1
                self.counts[f"case_{step}"] += 1
                if step == "exchange":
                    self.queue_looks = max(self.queue_looks, 2)  # logistics queues the replacement
                if step == "approve" and case["kind"] in ("return", "exchange"):
                    self.schedule(self.now + timedelta(hours=self.rng_for("parcel", case["order_id"]).uniform(*self.actors.return_transit_h)),
                                  "return_arrives", case_id=case["case_id"])
        if done:
            self.desk_may_hold_work = max(self.desk_may_hold_work, 1)  # next steps of what was just done
        return done

    def next_steps(self, case: dict) -> list[tuple[str, dict]]:
        status, kind = case["status"], case["kind"]
        if kind == "shipment_exception":
            if status == "requested":
                return [("approve", {"note": "customer told; we are on it"})]
            if status == "approved" and case["exception_kind"] == "damaged":
                return [("refund", {"note": "damaged in transit"})]
            if status == "approved" and case["shipment_id"] in self.watcher.delivered_shipments:
                return [("reject", {"reason": "parcel arrived late; customer informed, nothing to refund"})]
            return []
        if status == "requested":
            return [("approve", {})]
        finish = ("refund", {}) if kind == "return" else ("exchange", {})
        if status == "approved" and case["case_id"] in self.arrived_returns:
            passed = self.rng_for("inspection", case["order_id"]).random() < self.actors.inspection_pass_rate
            last = finish if passed or kind == "return" else ("reject", {"reason": "failed inspection"})
            return [("receive", {}), ("inspect", {"passed": passed}), last]
        if status == "received":
            return [("inspect", {"passed": True}), finish]
        if status == "inspected":
            return [finish if case.get("inspection_passed") is not False or kind == "return"
                    else ("reject", {"reason": "failed inspection"})]
        return []


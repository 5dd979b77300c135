"""The promotion-day scenario of `tools.simulate`, with no I/O: the catalog with its three tiers
and planned stock, the orders with their arrival curve, class mix, gifts and discounts.

Everything is drawn from one `random.Random(seed)`, so a seed gives the same scenario every time.
Amounts are Decimal and always consistent: paid_amount = sum(lines) - discount (R1, R5).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")

REGIONS: tuple[tuple[str, float], ...] = (
    ("Shanghai", 14), ("Jiangsu", 12), ("Zhejiang", 12), ("Guangdong", 14), ("Beijing", 9), ("Sichuan", 7),
    ("Hubei", 6), ("Shandong", 7), ("Fujian", 5), ("Henan", 5), ("Anhui", 4), ("Xinjiang", 1.5),
    ("Gansu", 1.5), ("Inner Mongolia", 1), ("Tibet", 0.5),
)
REMOTE_REGIONS = frozenset({"Xinjiang", "Gansu", "Inner Mongolia", "Tibet", "Qinghai", "Ningxia"})

# (name stem, price range, weight kg, volume l) per tier
TIER_ITEMS: dict[str, list[tuple[str, tuple[str, str], str, str]]] = {
    "traffic_driver": [("Oolong tea 250g", ("19.90", "39.90"), "0.30", "0.60"),
                       ("Paper towels 12 rolls", ("15.90", "29.90"), "1.20", "9.00"),
                       ("Instant noodles box", ("24.90", "35.90"), "1.60", "6.00"),
                       ("Phone cable", ("9.90", "19.90"), "0.05", "0.20"),
                       ("Socks 5 pairs", ("19.90", "29.90"), "0.30", "1.00"),
                       ("Hand cream", ("12.90", "25.90"), "0.10", "0.20"),
                       ("Toothpaste 3-pack", ("14.90", "22.90"), "0.40", "0.60"),
                       ("Shower gel 1l", ("29.90", "39.90"), "1.10", "1.20")],
    "profit": [("Electric kettle", ("129.00", "199.00"), "1.40", "6.00"),
               ("Rice cooker", ("299.00", "459.00"), "3.20", "14.00"),
               ("Air fryer", ("349.00", "599.00"), "4.50", "22.00"),
               ("Down jacket", ("399.00", "699.00"), "1.00", "8.00"),
               ("Running shoes", ("259.00", "459.00"), "0.90", "9.00"),
               ("Bluetooth speaker", ("159.00", "299.00"), "0.60", "2.00"),
               ("Office chair", ("499.00", "799.00"), "22.00", "120.00"),
               ("Bedding set", ("229.00", "389.00"), "3.00", "20.00"),
               ("Blender", ("189.00", "329.00"), "2.60", "9.00"),
               ("Skincare set", ("269.00", "499.00"), "0.80", "2.00")],
    "hot": [("Flagship phone", ("3999.00", "5999.00"), "0.50", "1.50"),
            ("Robot vacuum", ("1999.00", "2999.00"), "4.00", "25.00"),
            ("Noise-cancelling headphones", ("1299.00", "1999.00"), "0.60", "3.00"),
            ("Premium tea set", ("1099.00", "1699.00"), "2.50", "10.00"),
            ("Smart watch", ("1499.00", "2499.00"), "0.20", "0.80")],
}
GIFT_ITEMS = [("Tea cup (gift)", "0.20", "0.50"), ("Tote bag (gift)", "0.15", "0.80"),
              ("Travel pouch (gift)", "0.10", "0.40")]
TIER_CODE = {"traffic_driver": "TD", "profit": "PF", "hot": "HOT"}


@dataclass
class Scenario:
    """The knobs of the scenario (the simulator's flags)."""

    seed: int = 1
    orders: int = 3000
    event_hours: float = 72.0
    spike_share: float = 0.30        # share of all orders paid in the first `spike_hours` after midnight
    spike_hours: float = 2.0
    presale_share: float = 0.10
    high_value_share: float = 0.15
    high_value_threshold: Decimal = Decimal("1000.00")
    gift_rate: float = 0.30          # paid lines of gift-bearing skus that bring a gift
    first_order_rate: float = 0.15   # customers with the first-order coupon
    returning_rate: float = 0.50     # returning customers (150 off 20)
    cancel_rate: float = 0.01
    traffic_skus: int = 6
    profit_skus: int = 8
    hot_skus: int = 3
    traffic_depth: float = 2.0       # planned stock of a traffic driver, as a multiple of forecast (deep)
    hot_stock: float = 0.6           # planned stock of a hot item, as a share of forecast (sells out)
    forecast_error: float = 0.25     # sigma of the log of actual/forecast demand per sku
    viral_factor: float = 2.6        # one traffic driver sells this many times its forecast


@dataclass(frozen=True)
class Sku:
    sku: str
    name: str
    tier: str
    price: Decimal
    weight_kg: Decimal
    volume_l: Decimal
    gift_sku: str | None = None      # the gift this item brings with it
    is_gift: bool = False


@dataclass
class CatalogRow:
    sku: Sku
    forecast: int
    planned_stock: int
    on_hand: int


@dataclass
class Line:
    sku: str
    quantity: int
    unit_price: Decimal
    gift: bool = False
    gift_for_sku: str | None = None
    weight_kg: Decimal | None = None
    volume_l: Decimal | None = None

    @property
    def value(self) -> Decimal:
        return self.unit_price * self.quantity

    def as_json(self) -> dict:
        body = {"sku": self.sku, "quantity": self.quantity, "unit_price": money(self.unit_price), "gift": self.gift}
        if self.gift_for_sku:
            body["gift_for_sku"] = self.gift_for_sku
        if self.weight_kg is not None:
            body["weight_kg"] = money(self.weight_kg)
        if self.volume_l is not None:
            body["volume_l"] = money(self.volume_l)
        return body


@dataclass
class Order:
    order_id: str
    customer_id: str
    intended_class: str
    order_type: str
    lines: list[Line]
    paid_at: datetime
    region: str
    first_order: bool
    promotions: list[dict] = field(default_factory=list)
    discount: Decimal = Decimal("0.00")
    deposit: Decimal | None = None
    cancel_after_h: float | None = None  # the platform asks to cancel this long after payment

    @property
    def lines_total(self) -> Decimal:
        return sum((line.value for line in self.lines), Decimal("0.00"))

    @property
    def paid_amount(self) -> Decimal:
        return self.lines_total - self.discount

    def as_data(self) -> dict:
        """The `data` of the order.placed event (docs/events.md)."""
        body = {
            "order_id": self.order_id, "customer_id": self.customer_id, "order_type": self.order_type,
            "lines": [line.as_json() for line in self.lines], "discount": money(self.discount),
            "paid_amount": money(self.paid_amount), "paid_at": self.paid_at.isoformat(),
            "region": self.region, "currency": "CNY", "promotions": self.promotions,
            "first_order": self.first_order,
        }
        if self.deposit is not None:
            body["deposit"] = money(self.deposit)
            body["balance_paid_at"] = self.paid_at.isoformat()
        return body


def money(value: Decimal) -> str:
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):.2f}"


# ---------------------------------------------------------------------------------------------
# Arrival curve: the midnight spike, then a daily rhythm with smaller midnight peaks


def hourly_weights(s: Scenario) -> list[float]:
    """Relative order intensity per hour of the event (hour 0 starts at midnight). The first
    `spike_hours` carry `spike_share` of the orders; the rest follows the day (quiet at night,
    busy in the evening) with a smaller peak at each later midnight."""
    hours = max(1, math.ceil(s.event_hours))
    spike_h = max(1, min(hours, math.ceil(s.spike_hours)))
    base = []
    for h in range(hours):
        hod = h % 24
        day = 0.35 if 2 <= hod < 8 else 1.0 + 0.6 * math.exp(-((hod - 21) ** 2) / 8)
        if h >= 24 and hod < 2:
            day += 1.5 / (h // 24)   # later midnights: smaller peaks
        base.append(day)
    rest_total = sum(base[spike_h:]) or 1.0
    spike_share = s.spike_share if hours > spike_h else 1.0
    weights = [spike_share / spike_h] * spike_h
    weights += [(1 - spike_share) * b / rest_total for b in base[spike_h:]]
    return weights


def arrival_times(s: Scenario, rng: random.Random, start: datetime) -> list[datetime]:
    """`s.orders` payment times, sorted, following `hourly_weights`."""
    weights = hourly_weights(s)
    counts = [0] * len(weights)
    for h in rng.choices(range(len(weights)), weights=weights, k=s.orders):
        counts[h] += 1
    times = []
    for h, n in enumerate(counts):
        width = min(1.0, s.event_hours - h) if s.event_hours - h > 0 else 1.0
        for _ in range(n):
            times.append(start + timedelta(hours=h + rng.random() * width))
    times.sort()
    return times


# ---------------------------------------------------------------------------------------------
# Catalog


def build_skus(s: Scenario, rng: random.Random) -> dict[str, list[Sku]]:
    gifts = [Sku(sku=f"SKU-GIFT-{i + 1:02d}", name=name, tier="traffic_driver", price=Decimal("0.00"),
                 weight_kg=Decimal(w), volume_l=Decimal(v), is_gift=True)
             for i, (name, w, v) in enumerate(GIFT_ITEMS)]
    tiers: dict[str, list[Sku]] = {"gift": gifts}
    for tier, count in (("traffic_driver", s.traffic_skus), ("profit", s.profit_skus), ("hot", s.hot_skus)):
        items = TIER_ITEMS[tier]
        skus = []
        for i in range(max(1, count)):
            stem, (low, high), w, v = items[i % len(items)]
            name = stem if i < len(items) else f"{stem} v{i // len(items) + 1}"
            lo, hi = int(Decimal(low) * 100), int(Decimal(high) * 100)
            cents = rng.randrange(lo, hi + 1, 100) if hi - lo >= 100 else lo
            price = (Decimal(cents) / 100).quantize(CENT)
            if tier != "hot":  # shop prices end in .90
                price = price.quantize(Decimal("1")) - Decimal("0.10") if price > 1 else price
            gift = gifts[i % len(gifts)].sku if tier in ("profit", "hot") or i % 3 == 0 else None
            skus.append(Sku(sku=f"SKU-{TIER_CODE[tier]}-{i + 1:02d}", name=name, tier=tier, price=price,
                            weight_kg=Decimal(w), volume_l=Decimal(v), gift_sku=gift))
        tiers[tier] = skus
    return tiers


def popularity(rng: random.Random, skus: list[Sku]) -> list[float]:
    """Zipf-like: a few items sell most."""
    order = list(range(len(skus)))
    rng.shuffle(order)
    return [1.0 / (1 + rank) ** 0.8 for rank in order]


def plan_catalog(s: Scenario, rng: random.Random, tiers: dict[str, list[Sku]],
                 orders: list[Order]) -> list[CatalogRow]:
    """Planned stock from a forecast that misses the real demand by a per-sku error (R8): traffic
    drivers deep (`traffic_depth` x forecast), profit items at 120% of forecast, hot items short
    (`hot_stock` x forecast, so they go to deposit presale). One traffic driver goes viral."""
    demand: dict[str, int] = {}
    for order in orders:
        for line in order.lines:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    viral = max(tiers["traffic_driver"], key=lambda k: demand.get(k.sku, 0)).sku
    rows = []
    for tier in ("traffic_driver", "gift", "profit", "hot"):
        for sku in tiers[tier]:
            actual = demand.get(sku.sku, 0)
            surprise = s.viral_factor if sku.sku == viral else math.exp(rng.gauss(0, s.forecast_error))
            forecast = max(5, round(actual / surprise))
            if tier == "profit":
                planned = math.ceil(forecast * 1.2)  # the inventory rule; the CSV gives the forecast
            elif tier == "hot":
                planned = max(1, math.ceil(forecast * s.hot_stock))
            elif tier == "gift":
                planned = max(50, math.ceil(forecast * 3))
            elif sku.sku == viral:
                planned = max(10, math.ceil(forecast * 1.0))
            else:
                planned = max(20, math.ceil(forecast * s.traffic_depth))
            rows.append(CatalogRow(sku=sku, forecast=forecast, planned_stock=planned, on_hand=planned))
    return rows


def catalog_csv(rows: list[CatalogRow]) -> str:
    """The inventory catalog file (services/inventory/catalog.py): profit items give only their
    forecast, so inventory applies the 120% rule itself."""
    out = ["sku,name,tier,planned_stock,on_hand,forecast,threshold_percent"]
    for row in rows:
        tier = row.sku.tier
        planned = "" if tier == "profit" else str(row.planned_stock)
        name = row.sku.name.replace(",", " ")
        out.append(f"{row.sku.sku},{name},{tier},{planned},{row.on_hand},{row.forecast},")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Orders


def generate(s: Scenario, start: datetime) -> tuple[list[Order], list[CatalogRow]]:
    rng = random.Random(s.seed)
    tiers = build_skus(s, rng)
    weights = {tier: popularity(rng, skus) for tier, skus in tiers.items()}
    regions, region_w = zip(*REGIONS)
    classes = ["presale", "high_value", "standard"]
    class_w = [s.presale_share, s.high_value_share, max(0.0, 1 - s.presale_share - s.high_value_share)]
    customers = max(10, int(s.orders * 0.8))
    seen_customers: set[str] = set()
    orders = []
    for i, paid_at in enumerate(arrival_times(s, rng, start)):
        klass = rng.choices(classes, weights=class_w)[0]
        customer = f"C-{rng.randrange(customers):06d}"
        first = customer not in seen_customers and rng.random() < s.first_order_rate
        seen_customers.add(customer)
        returning = not first and rng.random() < s.returning_rate
        order = Order(order_id=f"O-{s.seed}-{i + 1:06d}", customer_id=customer, intended_class=klass,
                      order_type="presale" if klass == "presale" else "standard",
                      lines=[], paid_at=paid_at, region=rng.choices(regions, weights=region_w)[0], first_order=first)
        basket(s, rng, tiers, weights, order)
        add_gifts(s, rng, tiers, order)
        apply_discounts(rng, order, returning)
        if rng.random() < s.cancel_rate:
            order.cancel_after_h = rng.uniform(0.75, 3.0)
        orders.append(order)
    catalog = plan_catalog(s, rng, tiers, orders)
    return orders, catalog


def _pick(rng: random.Random, tiers: dict[str, list[Sku]], weights: dict[str, list[float]], tier: str) -> Sku:
    return rng.choices(tiers[tier], weights=weights[tier])[0]


def _add(order: Order, sku: Sku, quantity: int) -> None:
    for line in order.lines:
        if line.sku == sku.sku and not line.gift:
            line.quantity += quantity
            return
    order.lines.append(Line(sku=sku.sku, quantity=quantity, unit_price=sku.price,
                            weight_kg=sku.weight_kg, volume_l=sku.volume_l))


def basket(s: Scenario, rng: random.Random, tiers: dict[str, list[Sku]], weights: dict[str, list[float]],
           order: Order) -> None:
    """Lines that make the intended class come out of the orders service's own rule (R2):
    presale orders hold a hot item; high-value ones reach the threshold; standard ones stay below."""
    if order.intended_class == "presale":
        _add(order, _pick(rng, tiers, weights, "hot"), 1)
        if rng.random() < 0.4:
            _add(order, _pick(rng, tiers, weights, "traffic_driver"), rng.randint(1, 2))
        return
    if order.intended_class == "high_value":
        if rng.random() < 0.6:
            _add(order, _pick(rng, tiers, weights, "hot"), 1)
        for _ in range(20):  # bounded: profit items until the basket is high-value
            if order.lines_total >= s.high_value_threshold + 60:
                break
            _add(order, _pick(rng, tiers, weights, "profit"), 1)
        if rng.random() < 0.5:
            _add(order, _pick(rng, tiers, weights, "traffic_driver"), rng.randint(1, 3))
        return
    for _ in range(rng.choices([1, 2, 3], weights=[5, 3, 2])[0]):
        if rng.random() < 0.72:
            _add(order, _pick(rng, tiers, weights, "traffic_driver"), rng.choices([1, 2, 3], weights=[6, 3, 2])[0])
        else:
            _add(order, _pick(rng, tiers, weights, "profit"), 1)
    # standard stays below the high-value threshold (with room for no discount at all)
    while order.lines_total >= s.high_value_threshold and len(order.lines) > 1:
        order.lines.pop()
    while order.lines_total >= s.high_value_threshold and order.lines[0].quantity > 1:
        order.lines[0].quantity -= 1


def add_gifts(s: Scenario, rng: random.Random, tiers: dict[str, list[Sku]], order: Order) -> None:
    """Gift with purchase (R5, R20): a gift line tied to the paid line that brought it."""
    by_sku = {k.sku: k for tier in tiers.values() for k in tier}
    for line in list(order.lines):
        sku = by_sku[line.sku]
        if sku.gift_sku and rng.random() < s.gift_rate:
            gift = by_sku[sku.gift_sku]
            order.lines.append(Line(sku=gift.sku, quantity=1, unit_price=Decimal("0.00"), gift=True,
                                    gift_for_sku=sku.sku, weight_kg=gift.weight_kg, volume_l=gift.volume_l))
            order.promotions.append({"kind": "gift_with_purchase", "code": f"GIFT-{sku.sku}", "amount": "0.00"})


def apply_discounts(rng: random.Random, order: Order, returning: bool) -> None:
    """The promotion mechanics of R5, in a fixed order; the discount is their sum. Presale
    orders pay a deposit that counts double (R1): the doubled part is part of the discount."""
    discount = Decimal("0.00")
    promotions = order.promotions
    # tiered: 3 units of one traffic item at 20% off that line
    for line in order.lines:
        if not line.gift and line.quantity >= 3 and line.unit_price < 100:
            amount = (line.value * Decimal("0.20")).quantize(CENT, rounding=ROUND_HALF_UP)
            promotions.append({"kind": "tiered_discount", "code": f"3FOR-{line.sku}", "amount": money(amount)})
            discount += amount
    subtotal = order.lines_total - discount
    offers = [(Decimal("200.00"), Decimal("30.00")), (Decimal("100.00"), Decimal("10.00"))]
    if returning:
        offers.append((Decimal("150.00"), Decimal("20.00")))
    best = max((o for o in offers if subtotal >= o[0]), key=lambda o: o[1], default=None)
    if best is not None:
        promotions.append({"kind": "spend_threshold", "code": f"{int(best[0])}OFF{int(best[1])}",
                           "threshold": money(best[0]), "amount": money(best[1])})
        discount += best[1]
    if order.first_order and order.lines_total - discount > Decimal("20.00"):
        promotions.append({"kind": "first_order_coupon", "code": "WELCOME10", "amount": "10.00"})
        discount += Decimal("10.00")
    if order.order_type == "presale":
        hot = max((line for line in order.lines if not line.gift), key=lambda line: line.unit_price)
        deposit = (hot.unit_price * Decimal("0.10")).quantize(Decimal("1"))
        order.deposit = deposit
        discount += deposit  # the deposit counts double: its second half comes off the price
    order.discount = discount.quantize(CENT)

"""R25: a service killed with SIGKILL in the middle of a burst loses nothing.

One run, four waves of 500 orders on platform.orders (2,000 in all), with all four services up.
During wave k the k-th service (orders, inventory, logistics, aftersales) is killed with
SIGKILL at a random moment while it is working through that wave (a random number of the
wave's orders already committed by it, fewer than all), then restarted on the same database
with the same settings. Afterwards every order is accepted once, decided once (reserved or
backordered), shipped once if reserved, known to aftersales once; stock was never reserved twice
and the ledger explains every figure; nothing went to a dead-letter topic.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.faults.support import (
    Audit, Expectation, Sku, make_orders, outbox_states, placed_events, progress, say, seeded_rng, wait_until,
    write_catalog,
)
from tests.support.world import World

pytestmark = pytest.mark.faults

WAVE = 500
VICTIMS = ("orders", "inventory", "logistics", "aftersales")
# The share of a wave the victim has committed when it is killed: drawn at random in this window,
# low enough that the victim is still working (logistics only ships reserved orders, ~3 in 4).
KILL_WINDOW = {"orders": (0.1, 0.6), "inventory": (0.1, 0.6), "logistics": (0.05, 0.35), "aftersales": (0.1, 0.6)}
PLENTY = [Sku("F-TEA", "traffic_driver", 10_000, Decimal("49.90")),
          Sku("F-CUP", "profit", 6_000, Decimal("19.90")),
          Sku("F-KETTLE", "profit", 6_000, Decimal("299.00"))]
SCARCE = Sku("F-SET", "hot", 150, Decimal("899.00"))  # sells out early: later orders with it wait
# Small batches, so a wave takes several transactions and a kill lands between or inside them.
SETTINGS = {"CONSUMER_BATCH_SIZE": "50"}


def test_each_service_killed_mid_burst_and_restarted_loses_and_duplicates_nothing(world: World,
                                                                                  tmp_path: Path) -> None:
    rng = seeded_rng("crash")
    catalog = write_catalog(tmp_path, [*PLENTY, SCARCE])
    services = {
        "orders": world.start("orders", settings=SETTINGS),
        "inventory": world.start("inventory", settings={**SETTINGS, "CATALOG_PATH": str(catalog)}),
        "logistics": world.start("logistics", settings=SETTINGS),
        "aftersales": world.start("aftersales", settings=SETTINGS),
    }
    all_orders = []
    kills = []
    for k, victim_name in enumerate(VICTIMS):
        prefix = f"W{k}"
        wave = make_orders(rng, WAVE, prefix, PLENTY, scarce=SCARCE)
        all_orders += wave
        victim = services[victim_name]
        low, high = KILL_WINDOW[victim_name]
        target = rng.randint(int(WAVE * low), int(WAVE * high))
        world.publisher.send_many_raw(world.topic("platform.orders"), placed_events(wave))
        wait_until(lambda: progress(victim, prefix) >= target, timeout_s=180, interval_s=0.05,
                   what=f"{victim_name} reaching order {target} of wave {prefix}")
        done = progress(victim, prefix)
        victim.kill()
        killed_at = time.monotonic()
        outbox = outbox_states(victim)
        say("crash", f"SIGKILL {victim_name} (pid {victim.pid}) during wave {prefix}: {done} of its {WAVE} orders "
                     f"committed by {victim_name}; outbox at the crash {outbox}")
        victim.start()
        say("crash", f"restarted {victim_name} on the same database in {time.monotonic() - killed_at:.1f}s")
        kills.append((victim_name, prefix, done))

    expect = Expectation(all_orders, {s.sku: s.on_hand for s in [*PLENTY, SCARCE]})
    audit = Audit("crash", world, services, expect)
    audit.wait_settled(timeout_s=300)
    facts = audit.check()

    # Each kill was mid-flight: the victim had committed part of its wave, and finished it after.
    for victim_name, prefix, done in kills:
        final = progress(services[victim_name], prefix)
        assert done < final, f"{victim_name} had already finished wave {prefix} when killed ({done}/{final})"
        say("crash", f"{victim_name}: killed at {done}, finished wave {prefix} at {final} after restart")
    assert facts["reserved"] > 0 and facts["backordered"] > 0  # both outcomes exercised
    say("crash", f"PASS: {facts['orders']} orders, 4 services killed and restarted, {facts['accepted']} accepted once, "
                 f"{facts['reserved']} reserved ({facts['reserved_units']} units) + {facts['backordered']} backordered, "
                 f"{facts['shipments']} shipments, {facts['purchases']} aftersales purchases")

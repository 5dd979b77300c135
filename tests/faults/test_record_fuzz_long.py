"""The standing record fuzz test, long (issue 27; the short one runs in `make test`:
tests/integration/test_record_fuzz.py, which says what is generated and checked).

Many more records, bounded in count and in time: RECORD_FUZZ_LONG_EXAMPLES records per topic
(default 480, generated in chunks of 60 so memory stays flat), RECORD_FUZZ_GROUP (default 6)
before each set of canaries, and no new round once RECORD_FUZZ_LONG_BUDGET_S (default 600 s)
has passed. RECORD_FUZZ_SEED=<seed printed> replays a run.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.integration.test_poison_input import CONSUMERS
from tests.support.fuzz_records import RecordFuzz, check_platform_is_well
from tests.support.world import World

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("RECORD_FUZZ_SEED") or random.SystemRandom().randrange(2**31))
EXAMPLES = int(os.environ.get("RECORD_FUZZ_LONG_EXAMPLES", "480"))
GROUP = int(os.environ.get("RECORD_FUZZ_GROUP", "6"))
BUDGET_S = float(os.environ.get("RECORD_FUZZ_LONG_BUDGET_S", "600"))
CHUNK = 60


def say(text: str) -> None:
    print(f"[faults:record-fuzz] {text}", flush=True)


def test_many_fuzzed_records_on_every_topic_lose_and_stall_nothing(module_world: World) -> None:
    world = module_world
    catalog = REPO / "services" / "inventory" / "sample_catalog.csv"
    quick = {"HANDLER_RETRIES": "1"}
    services = {name: world.start(name, settings={**quick, **({"CATALOG_PATH": str(catalog)}
                                                             if name == "inventory" else {})})
                for name in ("orders", "inventory", "logistics", "aftersales")}
    replay = (f"Replay: RECORD_FUZZ_SEED={SEED} RECORD_FUZZ_LONG_EXAMPLES={EXAMPLES} RECORD_FUZZ_GROUP={GROUP} "
              f".venv/bin/python -m pytest -p no:cacheprovider -m faults tests/faults/test_record_fuzz_long.py -s")
    say(f"RECORD_FUZZ_SEED={SEED}: {EXAMPLES} records per topic on {len(CONSUMERS)} topics, {GROUP} before each "
        f"set of canaries, budget {BUDGET_S:.0f}s")
    fuzz = RecordFuzz(world, services, CONSUMERS, seed=SEED, replay=replay, round_timeout_s=90, say=say)
    started = time.monotonic()
    deadline = started + BUDGET_S
    rounds = 0
    try:
        for chunk in range((EXAMPLES + CHUNK - 1) // CHUNK):
            if time.monotonic() > deadline:
                say(f"time budget used up after {chunk} of {(EXAMPLES + CHUNK - 1) // CHUNK} chunks")
                break
            per_topic = min(CHUNK, EXAMPLES - chunk * CHUNK)
            planned = (per_topic + GROUP - 1) // GROUP
            done = fuzz.run(fuzz.generate(per_topic, chunk=chunk), GROUP, deadline=deadline)
            rounds += done
            if done < planned:
                break
        summary = fuzz.finish()
        check_platform_is_well(services)
        say(f"{rounds} rounds in {time.monotonic() - started:.0f}s: {summary}")
    finally:
        fuzz.close()

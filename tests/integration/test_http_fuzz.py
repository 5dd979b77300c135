"""HTTP fuzzing with schemathesis against each running service's OpenAPI document (issue 9, R28).

Every documented operation gets requests generated from its schema, both valid (positive) and
invalid (negative) ones, sent to the real service signed in with an all-roles token. Checked on
every response: no 5xx (`not_a_server_error`), the status code is one the operation documents
(`status_code_conformance`), and the body and content type match what is documented
(`response_schema_conformance`, `content_type_conformance`).

Bounded: FUZZ_EXAMPLES per operation and mode (default 12) and a time budget per service
(FUZZ_BUDGET_S, default 60 s). Reproduce with FUZZ_SEED=<seed printed>.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import ROLES
from tests.support.services import token_for
from tests.support.world import World

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("orders", "inventory", "logistics", "aftersales")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "60"))
SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**31))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def running(module_world: World):
    catalog = REPO / "services" / "inventory" / "sample_catalog.csv"
    extra = {"inventory": {"CATALOG_PATH": str(catalog)}}
    return {name: module_world.start(name, settings={"CLOCK": "settable", **extra.get(name, {})})
            for name in SERVICES}


@pytest.mark.slow  # four services fuzzed for up to a minute each: `make test-slow`
@pytest.mark.parametrize("name", SERVICES)
def test_fuzzed_requests_get_no_5xx_and_documented_responses(running, name: str) -> None:
    service = running[name]
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    headers = {"Authorization": f"Bearer {token_for(*ROLES)}"}  # all roles: reach the handlers
    operations = [result.ok() for result in schema.get_all_operations()]
    # Moving the clock changes what every later request sees; it is fuzzed last.
    operations.sort(key=lambda op: op.path == "/clock")
    started = time.monotonic()
    failures: list[str] = []
    calls: dict[str, int] = {}
    print(f"\n[fuzz] {name}: {len(operations)} operations, FUZZ_SEED={SEED}, {EXAMPLES} examples per mode")
    for i, operation in enumerate(operations):
        if time.monotonic() - started > BUDGET_S:
            failures.append(f"time budget of {BUDGET_S:.0f}s spent before {operation.label}")
            break
        label = operation.label
        strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
        try:
            strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
        except Exception:
            pass  # nothing in this operation can be made invalid (no parameters, no body)

        @seed(SEED + i)
        @settings(max_examples=EXAMPLES * len(strategies), deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                  report_multiple_bugs=False)
        @given(case=st.one_of(strategies))
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            calls[label] = calls.get(label, 0) + 1
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis' FailureGroup is a BaseExceptionGroup
            failures.append(f"{label}: {str(exc)[:1500]}")
    elapsed = time.monotonic() - started
    print(f"[fuzz] {name}: {sum(calls.values())} requests over {len(calls)} operations in {elapsed:.0f}s, "
          f"{len(failures)} failing operations")
    assert not failures, "\n\n".join(failures)


def test_a_nul_character_in_an_id_never_causes_a_server_error(world) -> None:
    """PostgreSQL cannot store NUL in text: the caller gets a 4xx with the reason, not a 500."""
    logistics = world.start("logistics")
    with logistics.client("warehouse") as http:
        batch = http.post("/shipments/ship-batch",
                          json={"parcels": [{"shipment_id": "S-\u0000-1", "tracking_number": "T1"}]})
        single = http.get("/shipments/S-%00-1")
    assert batch.status_code < 500 and single.status_code < 500, (batch.text, single.text)

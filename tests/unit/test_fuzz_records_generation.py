"""The record fuzz's generator itself (tests/support/fuzz_records.py) must never fail to
generate: a generation error stops the long fuzz run in `make test-faults` before one record
reaches the broker (CI stop 39: a record whose earlier mutations left no leaf to mutate next).
Offline, no broker."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.integration.test_poison_input import CONSUMERS
from tests.support.fuzz_records import places_to_mutate, records

TOPICS = sorted(CONSUMERS)


@pytest.mark.parametrize("data", [{}, {"lines": []}, {"lines": [], "promotions": {}}, {"a": [{}, []]}])
def test_data_with_no_leaf_left_gets_one_for_the_next_mutation(data: dict) -> None:
    spots, leaves = places_to_mutate(data)
    assert leaves == [("x_leaf",)] and ("x_leaf",) in spots and data["x_leaf"] == "O-1"


def test_data_with_leaves_is_left_as_it_is() -> None:
    data = {"order_id": "O-1", "lines": [{"sku": "S", "quantity": 1}], "empty": []}
    spots, leaves = places_to_mutate(data)
    assert sorted(leaves) == [("lines", 0, "quantity"), ("lines", 0, "sku"), ("order_id",)]
    assert ("empty",) in spots and "x_leaf" not in data


@pytest.mark.parametrize("topic", TOPICS)
def test_records_for_every_topic_are_generated_without_error(topic: str) -> None:
    handled = sorted({t for types in CONSUMERS[topic].values() for t in types})
    made = []

    @seed(20261207 + TOPICS.index(topic))
    @settings(max_examples=30, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(records(handled))
    def generate(record) -> None:
        made.append(record)

    generate()
    assert len(made) == 30

"""The examples in docs/events.md (tools/event_examples.py) are orders the platform accepts: the
contract, the orders service's own rules and the sample promotions' catalogue (issue 33)."""

from __future__ import annotations

import json

from services.orders import domain, promotions
from services.orders.promotion_catalogue import Catalogue
from services.orders.settings import OrdersSettings
from shared.event_registry import EVENT_MODELS
from shared.events import CloudEvent, OrderPlaced
from tools.event_examples import EVENT_EXAMPLES, PART_EXAMPLES
from tools.run_platform import SAMPLE_PROMOTIONS


def test_the_order_placed_example_passes_the_orders_rules_and_the_sample_catalogue() -> None:
    order = OrderPlaced.model_validate(EVENT_EXAMPLES["order.placed"]["data"])
    settings = OrdersSettings()
    domain.validate_order(order, domain.OrderPolicy(settings.high_value_threshold,
                                                    frozenset(settings.accepted_currencies), settings.presale_terms()))
    catalogue = Catalogue.model_validate(json.loads(SAMPLE_PROMOTIONS.read_text()))
    assert promotions.check(order, catalogue, promotions.Ledger()).total == order.discount


def test_every_event_example_is_a_valid_envelope_of_its_type() -> None:
    for type_, event in EVENT_EXAMPLES.items():
        CloudEvent.model_validate(event)
        EVENT_MODELS[(type_, event["dataversion"])].model_validate(event["data"])
    assert {"OrderLine", "Promotion"} <= set(PART_EXAMPLES)

"""Who the audit trail names (issue 27, finding 7): the signed HTTP caller, or a Kafka topic with
the sender's claimed source marked as a claim."""

from __future__ import annotations

from services.orders.origin import Origin, content_hash


def test_an_http_caller_is_named_by_the_signed_subject_and_roles() -> None:
    assert Origin(channel="http", source="checkout(platform)").actor == "http:checkout(platform)"


def test_a_kafka_event_names_its_topic_and_only_claims_its_source() -> None:
    origin = Origin(channel="kafka", event_id="e-1", source="checkout", topic="platform.orders")
    assert origin.actor == "kafka:platform.orders (source: checkout)"


def test_a_kafka_sender_cannot_pass_for_an_http_caller() -> None:
    forged = Origin(channel="kafka", source="http:checkout(platform)", topic="platform.orders")
    assert forged.actor == "kafka:platform.orders (source: http:checkout(platform))"
    assert not forged.actor.startswith("http:")


def test_an_invisible_or_missing_source_is_shown_for_what_it_is() -> None:
    assert Origin(channel="kafka", source="chec\u200bkout\n", topic="t").actor == "kafka:t (source: chec\\u200bkout\\n)"
    assert Origin(channel="kafka", source=None, topic="t").actor == "kafka:t (source: none given)"


def test_an_order_this_service_wrote_for_an_http_caller_names_that_caller() -> None:
    kafka = Origin(channel="kafka", event_id="e-1", source="orders", topic="platform.orders")
    submitted = kafka.submitted_over_http("http:checkout(platform)")
    assert (submitted.actor, submitted.channel, submitted.event_id) == ("http:checkout(platform)", "http", "e-1")


def test_a_parked_event_keeps_the_actor_it_arrived_with() -> None:
    parked = Origin(channel="parked", event_id="e-1", recorded_actor="kafka:logistics.shipments (source: logistics)")
    assert parked.actor == "kafka:logistics.shipments (source: logistics)"
    assert Origin(channel="parked", event_id="e-1").actor == "parked:unknown"  # parked before actors were kept


def test_the_content_hash_tells_any_change() -> None:
    assert content_hash('{"a":1}') == content_hash('{"a":1}') != content_hash('{"a":2}')

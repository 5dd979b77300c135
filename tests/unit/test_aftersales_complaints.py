"""Complaint rules (R27): the 1-hour and 24-hour clocks to the microsecond, the desk order, the
steps and what they refuse. A time is due at its instant and overdue only after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.aftersales import complaints
from services.aftersales.complaints import (
    FIRST_RESPONSE_TIME,
    MAX_NOTE,
    MAX_SUBJECT,
    MAX_TEXT,
    RESOLUTION_TIME,
    Channel,
    ComplaintRefused,
    channel_tier,
    check_customer,
    desk_position,
    open_complaint,
    resolve,
    respond,
)
from services.aftersales.domain import Refusal

OPENED = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def complaint(channel: str = "private", at: datetime = OPENED, cid: str = "CMP-1"):
    return open_complaint(complaint_id=cid, order_id="O-1", customer_id="C-1", channel=channel,
                          subject="  Late parcel ", text=" Where is it? ", now=at, by="agent-1")


def test_the_clocks_are_one_hour_and_twenty_four_hours() -> None:
    assert FIRST_RESPONSE_TIME == timedelta(hours=1) and RESOLUTION_TIME == timedelta(hours=24)
    assert (MAX_SUBJECT, MAX_TEXT, MAX_NOTE) == (200, 4000, 2000)  # the documented HTTP contract
    c = complaint()
    assert c.first_response_due == datetime(2026, 11, 11, 11, 0, tzinfo=UTC)
    assert c.resolution_due == datetime(2026, 11, 12, 10, 0, tzinfo=UTC)
    assert c.next_due == c.first_response_due
    assert (c.subject, c.text, c.opened_by, c.channel) == ("Late parcel", "Where is it?", "agent-1", Channel.PRIVATE)
    assert c.is_open and c.first_response_in_time is None and c.resolved_in_time is None


@pytest.mark.parametrize(("after", "overdue"), [
    (timedelta(minutes=59, seconds=59), False),
    (timedelta(hours=1) - TICK, False),
    (timedelta(hours=1), False),  # due at 60:00 exactly: not late yet
    (timedelta(hours=1) + TICK, True),
    (timedelta(minutes=60, seconds=1), True),
    (timedelta(minutes=61), True),
])
def test_the_first_response_is_overdue_only_after_its_hour(after: timedelta, overdue: bool) -> None:
    assert complaint().first_response_overdue(OPENED + after) is overdue


@pytest.mark.parametrize(("after", "overdue"), [
    (timedelta(hours=23, minutes=59, seconds=59), False),
    (timedelta(hours=24), False),
    (timedelta(hours=24) + TICK, True),
    (timedelta(hours=24, seconds=1), True),
])
def test_the_resolution_is_overdue_only_after_twenty_four_hours(after: timedelta, overdue: bool) -> None:
    assert complaint().resolution_overdue(OPENED + after) is overdue


def test_a_response_stops_the_first_clock_and_moves_the_next_deadline() -> None:
    answered = respond(complaint(), " Sorry, on its way ", OPENED + timedelta(hours=1), by="agent-2")
    assert (answered.response, answered.responded_by) == ("Sorry, on its way", "agent-2")
    assert answered.first_response_in_time is True  # at the due instant: in time
    assert not answered.first_response_overdue(OPENED + timedelta(hours=5))
    assert answered.next_due == answered.resolution_due
    late = respond(complaint(), "sorry", OPENED + timedelta(hours=1) + TICK)
    assert late.first_response_in_time is False
    assert late.resolution_overdue(OPENED + timedelta(hours=25)) and answered.is_open


def test_resolving_closes_it_once_and_counts_as_the_first_response_when_none_was_given() -> None:
    resolved = resolve(complaint(), " Refunded the shipping ", OPENED + timedelta(minutes=30), by="agent-3")
    assert not resolved.is_open and resolved.resolution == "Refunded the shipping"
    assert (resolved.responded_at, resolved.response, resolved.responded_by) == (
        OPENED + timedelta(minutes=30), "Refunded the shipping", "agent-3")
    assert resolved.resolved_in_time is True and resolved.first_response_in_time is True
    assert not resolved.resolution_overdue(OPENED + timedelta(days=3))
    assert not resolved.first_response_overdue(OPENED + timedelta(days=3))
    with pytest.raises(ComplaintRefused) as refused:
        resolve(resolved, "again", OPENED + timedelta(hours=2))
    assert refused.value.kind == "closed"
    with pytest.raises(ComplaintRefused) as refused:
        respond(resolved, "hello", OPENED + timedelta(hours=2))
    assert refused.value.kind == "closed"


def test_a_resolution_after_a_response_keeps_the_response() -> None:
    answered = respond(complaint(), "looking into it", OPENED + timedelta(minutes=10), by="a")
    resolved = resolve(answered, "replaced", OPENED + timedelta(hours=24) + TICK, by="b")
    assert (resolved.response, resolved.responded_by, resolved.responded_at) == (
        "looking into it", "a", OPENED + timedelta(minutes=10))
    assert resolved.resolved_in_time is False and resolved.resolved_by == "b"
    on_time = resolve(answered, "replaced", OPENED + timedelta(hours=24))
    assert on_time.resolved_in_time is True


def test_the_first_response_is_recorded_once() -> None:
    answered = respond(complaint(), "first", OPENED + timedelta(minutes=1))
    with pytest.raises(ComplaintRefused) as refused:
        respond(answered, "second", OPENED + timedelta(minutes=2))
    assert refused.value.kind == "responded" and isinstance(refused.value, Refusal)


@pytest.mark.parametrize(("field", "most"), [("subject", MAX_SUBJECT), ("text", MAX_TEXT)])
def test_texts_are_bounded_and_not_empty(field: str, most: int) -> None:
    fields = {"subject": "s", "text": "t"}
    ok = open_complaint(complaint_id="C", order_id="O", customer_id="C", channel="public", now=OPENED,
                        **fields | {field: "x" * most})
    assert len(getattr(ok, field)) == most
    for bad in ("x" * (most + 1), "   ", ""):
        with pytest.raises(ComplaintRefused) as refused:
            open_complaint(complaint_id="C", order_id="O", customer_id="C", channel="public", now=OPENED,
                           **fields | {field: bad})
        assert refused.value.kind == "invalid" and field in str(refused.value)


def test_notes_are_bounded() -> None:
    assert len(respond(complaint(), "r" * MAX_NOTE, OPENED).response) == MAX_NOTE
    for step in (respond, resolve):
        for bad in ("r" * (MAX_NOTE + 1), " "):
            with pytest.raises(ComplaintRefused):
                step(complaint(), bad, OPENED)


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ComplaintRefused) as refused:
        complaint(channel="twitter")
    assert refused.value.kind == "invalid" and "twitter" in str(refused.value)
    assert complaint(channel="public").channel is Channel.PUBLIC


def test_the_customer_is_the_orders() -> None:
    assert check_customer("C-1", None) == "C-1"
    assert check_customer("C-1", "") == "C-1"
    assert check_customer("C-1", "C-1") == "C-1"
    assert check_customer(None, "C-2") == "C-2"
    with pytest.raises(ComplaintRefused) as refused:
        check_customer("C-1", "C-2")
    assert refused.value.kind == "customer_mismatch"
    with pytest.raises(ComplaintRefused) as refused:
        check_customer(None, None)
    assert refused.value.kind == "invalid"


def test_public_complaints_come_first_then_the_nearest_deadline() -> None:
    assert channel_tier(Channel.PUBLIC) == 0 and channel_tier("private") == 1
    old_private = complaint("private", OPENED - timedelta(hours=3), "CMP-A")
    new_public = complaint("public", OPENED, "CMP-B")
    older_public = complaint("public", OPENED - timedelta(minutes=5), "CMP-C")
    # Answered long ago: its next deadline is the resolution's, 24 hours out.
    answered_public = respond(complaint("public", OPENED - timedelta(minutes=10), "CMP-D"), "hi", OPENED)
    same_time = complaint("public", OPENED, "CMP-0")
    desk = sorted([old_private, new_public, older_public, answered_public, same_time], key=desk_position)
    assert [c.complaint_id for c in desk] == ["CMP-C", "CMP-0", "CMP-B", "CMP-D", "CMP-A"]
    assert desk_position(new_public) == (0, new_public.first_response_due, OPENED, "CMP-B")


def test_the_rules_have_no_io() -> None:
    assert not {"sqlalchemy", "sqlmodel", "fastapi", "httpx"} & set(vars(complaints))

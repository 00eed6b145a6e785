"""The calendar tools on a call, over a real stream: what the model is offered and told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from libs.bus import EventBus
from libs.events import MeetingBooked, subject_filter
from services.conversation.calendar.desk import Booked, BookingDesk, Party
from services.conversation.calendar.on_call import CallBooker
from services.conversation.calendar.port import CalendarUnavailableError, EmbeddedCalendar
from services.conversation.calendar.team import load_team
from services.conversation.tools import CallState, build_tools
from tests.integration.conversation.support import call_requested
from tests.tool_calls import call_tool

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # Wednesday 10:30 in New York
NEW_YORK = ZoneInfo("America/New_York")


async def _nothing() -> None:
    return None


class OnACall:
    def __init__(self, desk: BookingDesk) -> None:
        self.booker = CallBooker(desk, call_requested(at=NOW), NEW_YORK, lambda: NOW)
        self.state = CallState(on_opt_out=_nothing, booker=self.booker)
        self.tools = build_tools(self.state, follow_up=False, zone=NEW_YORK, clock=lambda: NOW)

    async def use(self, name: str, **arguments: object) -> dict:
        [result] = await call_tool(self.tools, name, dict(arguments))
        return result


@pytest.fixture
async def desk(bus: EventBus) -> AsyncIterator[BookingDesk]:
    async with BookingDesk(bus, load_team(), EmbeddedCalendar()).running() as desk:
        yield desk


async def test_offered_times_are_in_the_leads_hours_and_one_is_booked_and_read_back(
    bus: EventBus, desk: BookingDesk
):
    call = OnACall(desk)
    offer = await call.use("check_availability")
    slots = offer["slots"]
    assert [slot["slot"] for slot in slots] == ["slot-1", "slot-2", "slot-3"]
    for slot in slots:  # the lead said 2pm-4pm: every time is inside it, in their zone
        local = datetime.fromisoformat(slot["time"])
        assert local.utcoffset() == NEW_YORK.utcoffset(local.replace(tzinfo=None))
        assert 14 <= local.hour < 16 and local > NOW
        assert slot["say"].endswith("EST") and slot["with"] in ("Jordan Lee", "Sam Rivera")
    booked = await call.use("book_meeting", slot="slot-2")
    assert booked["booked"] is True and booked["time"] == slots[1]["time"]
    assert booked["say"] == slots[1]["say"] and "Read the day and time back" in booked["confirm"]
    [stored] = await bus.events_so_far(subject_filter(MeetingBooked))
    assert isinstance(stored, MeetingBooked)
    assert (stored.call_id, stored.contact_number, stored.lead_zone) == (
        call.booker.party.call_id,
        "+12025550143",
        "America/New_York",
    )
    # The outcome speaks of that meeting, spelt any way, and of no other.
    wrong = await call.use(
        "record_outcome", interest_level="high", meeting_time="2026-03-20T14:15:00-04:00"
    )
    assert wrong["field"] == "meeting_time" and call.state.outcome is None
    utc = datetime.fromisoformat(slots[1]["time"]).astimezone(UTC).isoformat()
    assert await call.use("record_outcome", interest_level="high", meeting_time=utc) == {
        "recorded": True
    }
    assert call.state.outcome is not None
    assert (call.state.outcome.scheduled_meeting, call.state.outcome.meeting_id) == (
        True,
        stored.meeting_id,
    )
    again = await call.use("book_meeting", slot="slot-1")
    assert "already booked" in again["error"]


async def test_a_time_never_offered_is_refused_and_one_just_taken_gets_new_times(
    desk: BookingDesk,
):
    call = OnACall(desk)
    refused = await call.use("book_meeting", slot="slot-1")
    assert refused["booked"] is False and "was not offered" in refused["error"]
    await call.use("check_availability")
    first = call.booker.offered["slot-1"]
    assert isinstance(await desk.book(first, Party(zone="UTC"), NOW), Booked)  # another call
    taken = await call.use("book_meeting", slot="slot-1")
    assert taken["booked"] is False and taken["error"].startswith("that time was just taken")
    assert [slot["slot"] for slot in taken["slots"]] == ["slot-4", "slot-5", "slot-6"]
    offered_now = {call.booker.offered[s["slot"]].slot_id for s in taken["slots"]}
    assert first.slot_id not in offered_now
    assert (await call.use("book_meeting", slot="slot-4"))["booked"] is True


class DownCalendar(EmbeddedCalendar):
    name = "caldav"

    async def busy(self, rep, start, end):
        raise CalendarUnavailableError("caldav.example.com did not answer")


async def test_a_calendar_down_mid_call_is_an_email_follow_up_not_a_crash(bus: EventBus):
    async with BookingDesk(bus, load_team(), DownCalendar()).running() as desk:
        call = OnACall(desk)
        answer = await call.use("check_availability")
    assert answer["error"] == "the calendar is unavailable"
    assert "follow up by email" in answer["say"]
    assert call.state.calendar_trouble and call.state.meeting_id is None

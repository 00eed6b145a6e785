"""The booking desk over a real stream: one slot, one booking, whoever races for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.bus import EventBus
from libs.events import MeetingBooked, TimeWindow, subject_filter
from services.conversation.calendar.desk import Booked, BookingDesk, Party, Taken, Unavailable
from services.conversation.calendar.port import (
    CalendarUnavailableError,
    EmbeddedCalendar,
    Interval,
)
from services.conversation.calendar.slots import LeadHours, Request
from services.conversation.calendar.team import RepEntry, Team, TeamFile, load_team, team_from

NOW = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)  # a Tuesday, 12:00 in New York
DENVER = "America/Denver"


def party(number: int) -> Party:
    return Party(zone=DENVER, business_name=f"Shop {number}", contact_number=f"+1303555{number:04}")


def lead(zone: str = DENVER, window: TimeWindow | None = None) -> Request:
    return Request(now=NOW, lead=LeadHours(zone=ZoneInfo(zone), window=window))


@pytest.fixture
async def desk(bus: EventBus) -> AsyncIterator[BookingDesk]:
    async with BookingDesk(bus, load_team(), EmbeddedCalendar()).running() as desk:
        yield desk


async def test_of_two_calls_offered_the_same_time_one_books_it(bus: EventBus, desk: BookingDesk):
    async with BookingDesk(bus, load_team(), EmbeddedCalendar()).running() as other_replica:
        [slot, *_] = await desk.offer(lead())
        assert slot in await other_replica.offer(lead())
        results = await asyncio.gather(
            desk.book(slot, party(1), NOW), other_replica.book(slot, party(2), NOW)
        )
    assert sorted(type(result).__name__ for result in results) == ["Booked", "Taken"]
    [taken] = [result for result in results if isinstance(result, Taken)]
    assert taken.reason == "that time was just taken"
    stored = await bus.events_so_far(subject_filter(MeetingBooked))
    assert [event.slot_id for event in stored] == [slot.slot_id]
    # The loser's next offer leaves the booked time out.
    assert slot not in await desk.offer(lead())


async def test_a_canceled_meeting_frees_its_slot_and_a_moved_one_takes_the_new(desk):
    [first, second, *_] = await desk.offer(lead())
    booked = await desk.book(first, party(1), NOW)
    assert isinstance(booked, Booked)
    moved = await desk.reschedule(booked.booking.meeting_id, second, NOW)
    assert isinstance(moved, Booked) and moved.booking.revision == 1
    meeting = desk.meeting(booked.booking.meeting_id)
    assert (meeting.status, meeting.booking.starts_at) == ("booked", second.starts_at)
    assert first in await desk.offer(lead())  # the old time is free again
    assert isinstance(await desk.book(first, party(2), NOW), Booked)
    canceled = await desk.cancel(booked.booking.meeting_id, NOW)
    assert canceled.status == "canceled"
    assert isinstance(await desk.book(second, party(3), NOW), Booked)


async def test_a_meeting_goes_back_to_a_slot_it_left(desk):
    [first, second, *_] = await desk.offer(lead())
    booked = await desk.book(first, party(1), NOW)
    assert isinstance(booked, Booked)
    meeting_id = booked.booking.meeting_id
    assert isinstance(await desk.reschedule(meeting_id, second, NOW), Booked)
    back = await desk.reschedule(meeting_id, first, NOW)
    assert isinstance(back, Booked) and back.booking.revision == 2
    assert desk.meeting(meeting_id).booking.starts_at == first.starts_at
    assert desk.meeting(meeting_id).status == "booked"


async def test_only_times_inside_the_leads_hours_are_offered(desk):
    afternoon = TimeWindow(start=time(14), end=time(16))
    slots = await desk.offer(lead(window=afternoon))
    assert slots
    for slot in slots:
        local = slot.starts_at.astimezone(ZoneInfo(DENVER))
        assert time(14) <= local.time() and slot.ends_at.astimezone(
            ZoneInfo(DENVER)
        ).time() <= time(16)


class DeadCalendar(EmbeddedCalendar):
    name = "caldav"

    def __init__(self, *, reads: bool) -> None:
        self.reads = reads

    async def busy(self, rep, start, end):
        if not self.reads:
            raise CalendarUnavailableError("the CalDAV server did not answer")
        return []

    async def write(self, booking):
        raise CalendarUnavailableError("the CalDAV server refused the event (507)")


async def test_a_calendar_that_refuses_the_booking_leaves_no_half_made_meeting(bus: EventBus):
    team = load_team()
    async with BookingDesk(bus, team, DeadCalendar(reads=True)).running() as desk:
        [slot, *_] = await desk.offer(lead())
        result = await desk.book(slot, party(1), NOW)
        assert isinstance(result, Unavailable) and "507" in result.reason
        assert desk.ledger.holder(slot.slot_id) is None
        assert slot in await desk.offer(lead())  # the time is still free
    async with BookingDesk(bus, team, DeadCalendar(reads=False)).running() as desk:
        assert isinstance(await desk.book(slot, party(1), NOW), Unavailable)
        with pytest.raises(CalendarUnavailableError):
            await desk.offer(lead())
    assert [m.status for m in desk.ledger.meetings()] == ["failed"]


# Random teams, random busy times, calls racing -------------------------------------

ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")


class BusyCalendar(EmbeddedCalendar):
    """What the reps entered in their own calendars, random per example."""

    def __init__(self, busy: dict[str, list[Interval]]) -> None:
        self._busy = busy

    async def busy(self, rep, start, end):
        return [i for i in self._busy.get(rep.id, []) if i.start < end and start < i.end]


@st.composite
def teams(draw: st.DrawFn) -> Team:
    count = draw(st.integers(1, 3))
    # Fresh rep ids per example: its slots are its own on the shared stream.
    team_id = uuid4().hex[:8]
    reps = []
    for index in range(count):
        start = draw(st.integers(6, 12))
        reps.append(
            RepEntry(
                id=f"rep-{team_id}-{index}",
                name=f"Rep {index}",
                time_zone=draw(st.sampled_from(ZONES)),
                days=draw(st.sampled_from(["mon-fri", "tue,thu", "mon-sun", "sat-mon"])),
                hours=f"{start:02}:00-{start + draw(st.integers(2, 9)):02}:00",
            )
        )
    return team_from(
        TeamFile(
            meeting_minutes=draw(st.sampled_from([15, 30, 45, 60])),
            buffer_minutes=draw(st.sampled_from([0, 10, 15])),
            minimum_notice_minutes=draw(st.sampled_from([0, 60, 240, 1440])),
            horizon_days=draw(st.integers(2, 10)),
            reps=reps,
        )
    )


@given(
    team=teams(),
    now_hours=st.integers(0, 24 * 7),
    busy_starts=st.lists(st.integers(0, 24 * 10 * 4), max_size=12),
    calls=st.integers(2, 6),
    replicas=st.integers(1, 3),
    picks=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    lead_zone=st.sampled_from(ZONES),
)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_no_booking_is_past_outside_hours_or_overlapping(
    bus: EventBus, team, now_hours, busy_starts, calls, replicas, picks, lead_zone
):
    now = NOW + timedelta(hours=now_hours, minutes=7)
    busy = {
        rep.id: [
            Interval(now + timedelta(minutes=15 * q), now + timedelta(minutes=15 * q + 50))
            for q in busy_starts[index::2]
        ]
        for index, rep in enumerate(team.reps)
    }
    async with contextlib_desks(bus, team, BusyCalendar(busy), replicas) as desks:

        async def one_call(number: int, desk: BookingDesk) -> None:
            request = Request(now=now, lead=LeadHours(zone=ZoneInfo(lead_zone)))
            for _ in range(3):  # offered, taken, offered again: as on a call
                slots = await desk.offer(request)
                if not slots:
                    return
                result = await desk.book(slots[picks[number] % len(slots)], party(number), now)
                if not isinstance(result, Taken):
                    return

        await asyncio.gather(*(one_call(n, desks[n % replicas]) for n in range(calls)))
    bookings = [
        e
        for e in await bus.events_so_far(subject_filter(MeetingBooked))
        if isinstance(e, MeetingBooked) and team.rep(e.rep_id) is not None
    ]
    for booking in bookings:
        rep = team.rep(booking.rep_id)
        assert rep is not None
        assert booking.starts_at >= now + team.minimum_notice  # never in the past or too soon
        local_start, local_end = (
            booking.starts_at.astimezone(rep.zone),
            booking.ends_at.astimezone(rep.zone),
        )
        assert local_start.weekday() in rep.weekdays
        assert rep.starts <= local_start.time() and local_end.time() <= rep.ends
        assert local_start.date() == local_end.date()
        for other in busy[rep.id]:
            assert not Interval(booking.starts_at, booking.ends_at).overlaps(other)
    for first in bookings:
        for second in bookings:
            if first is not second and first.rep_id == second.rep_id:
                gap = team.buffer
                assert (
                    first.ends_at + gap <= second.starts_at
                    or second.ends_at + gap <= first.starts_at
                ), (first, second)


class contextlib_desks:
    """Several desks on one stream, as several conversation processes would be."""

    def __init__(self, bus, team, calendar, count):
        self.desks = [BookingDesk(bus, team, calendar) for _ in range(count)]
        self._managers = [desk.running() for desk in self.desks]

    async def __aenter__(self):
        await asyncio.gather(*(manager.__aenter__() for manager in self._managers))
        return self.desks

    async def __aexit__(self, *exc):
        await asyncio.gather(*(manager.__aexit__(*exc) for manager in self._managers))

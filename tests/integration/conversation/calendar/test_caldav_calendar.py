"""The CalDAV calendar against a real Radicale: what the reps' calendars hold and receive.

Events "from a calendar app" are put in with the caldav library directly, and what the
agent writes is read back the same way, as the rep's own calendar app would see it.
"""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import caldav
import pytest
from icalendar import Calendar, Event
from msgspec.structs import replace

from libs.events import MeetingBooked, slot_id_for
from libs.runtime.settings import SettingsError
from services.conversation.calendar.caldav_calendar import CalDavCalendar
from services.conversation.calendar.port import (
    CalendarUnavailableError,
    Interval,
    meeting_uid,
)
from tests.integration.conversation.calendar.conftest import TeamCalendars

NEW_YORK = ZoneInfo("America/New_York")
DAY = date(2030, 6, 4)  # a Tuesday, in daylight saving time in New York
MORNING = datetime(2030, 6, 4, 9, 0, tzinfo=NEW_YORK)
# What the agent asks about, in UTC as it always does: the week from that day.
WEEK = (datetime(2030, 6, 4, 4, 0, tzinfo=UTC), datetime(2030, 6, 11, 4, 0, tzinfo=UTC))


def agent(team_calendars: TeamCalendars, **changes: object) -> CalDavCalendar:
    server = team_calendars.server
    settings: dict[str, object] = {
        "url": team_calendars.shared_url,
        "username": server.username,
        "password": server.password,
        "team": team_calendars.team,
        "timeout_seconds": 5,
    }
    return CalDavCalendar(**{**settings, **changes})  # type: ignore[arg-type]


def calendar_app(team_calendars: TeamCalendars, rep_id: str = "jordan-lee") -> caldav.Calendar:
    """The rep's calendar as their own calendar app reaches it."""
    return caldav.Calendar(client=team_calendars.server.client(), url=team_calendars.url_of(rep_id))


def put_event(app: caldav.Calendar, start: object, end: object, **properties: str) -> None:
    """An event a person made in their calendar app."""
    event = Event()
    event.add("uid", f"{uuid4()}@calendar-app")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", "Dentist")
    for name, value in properties.items():
        event.add(name, value)
    calendar = Calendar()
    calendar.add("prodid", "-//A calendar app//EN")
    calendar.add("version", "2.0")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    app.add_event(calendar.to_ical().decode())


def booking(
    rep_id: str = "jordan-lee",
    starts_at: datetime = MORNING,
    *,
    meeting_id: UUID | None = None,
    revision: int = 0,
    contact_email: str = "ada@example.com",
) -> MeetingBooked:
    starts_at = starts_at.astimezone(UTC)
    rep_name, rep_email = {
        "jordan-lee": ("Jordan Lee", "jordan.lee@example.com"),
        "sam-rivera": ("Sam Rivera", "sam.rivera@example.com"),
    }[rep_id]
    return MeetingBooked(
        event_id=uuid4(),
        occurred_at=datetime.now(UTC),
        slot_id=slot_id_for(rep_id, starts_at),
        meeting_id=meeting_id or uuid4(),
        rep_id=rep_id,
        rep_name=rep_name,
        rep_email=rep_email,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        lead_zone="America/Chicago",
        calendar="caldav",
        call_id=uuid4(),
        business_name="Acme Plumbing",
        contact_name="Ada Lovelace",
        contact_number="+12025550143",
        contact_email=contact_email,
        revision=revision,
    )


def events_in(app: caldav.Calendar) -> list[Event]:
    return [item.icalendar_component for item in app.get_events()]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# --- busy: what the rep's calendar already holds -------------------------------------


async def test_an_event_made_in_a_calendar_app_is_busy_time(team_calendars):
    app = calendar_app(team_calendars)
    put_event(app, MORNING + timedelta(hours=2), MORNING + timedelta(hours=3))

    busy = await agent(team_calendars).busy(team_calendars.team.reps[0], *WEEK)

    assert busy == [Interval(utc(MORNING + timedelta(hours=2)), utc(MORNING + timedelta(hours=3)))]


async def test_time_shown_as_free_or_cancelled_is_not_busy(team_calendars):
    app = calendar_app(team_calendars)
    put_event(app, MORNING, MORNING + timedelta(hours=1), transp="TRANSPARENT")
    put_event(app, MORNING + timedelta(hours=2), MORNING + timedelta(hours=3), status="CANCELLED")
    put_event(app, MORNING + timedelta(hours=4), MORNING + timedelta(hours=5), status="CONFIRMED")

    busy = await agent(team_calendars).busy(team_calendars.team.reps[0], *WEEK)

    assert busy == [Interval(utc(MORNING + timedelta(hours=4)), utc(MORNING + timedelta(hours=5)))]


async def test_an_all_day_event_blocks_the_whole_day_where_the_rep_is(team_calendars):
    put_event(calendar_app(team_calendars), DAY, DAY + timedelta(days=1))  # a day off
    calendar, jordan = agent(team_calendars), team_calendars.team.reps[0]
    midnight = datetime(2030, 6, 4, tzinfo=NEW_YORK)

    # Late that evening in New York, already the next day in UTC: still the day off.
    that_evening = (
        utc(midnight + timedelta(hours=20, minutes=30)),
        utc(midnight + timedelta(hours=23)),
    )
    # The evening before, already that day in UTC: free.
    evening_before = (that_evening[0] - timedelta(days=1), that_evening[1] - timedelta(days=1))

    assert await calendar.busy(jordan, *that_evening) == [
        Interval(utc(midnight), utc(midnight + timedelta(days=1)))
    ]
    assert await calendar.busy(jordan, *evening_before) == []


async def test_a_weekly_meeting_is_busy_each_week(team_calendars):
    put_event(
        calendar_app(team_calendars),
        MORNING,
        MORNING + timedelta(hours=1),
        rrule="FREQ=WEEKLY;COUNT=10",
    )
    two_weeks = (WEEK[0], WEEK[0] + timedelta(days=14))

    busy = await agent(team_calendars).busy(team_calendars.team.reps[0], *two_weeks)

    assert busy == [
        Interval(
            utc(MORNING + timedelta(days=7 * n)), utc(MORNING + timedelta(days=7 * n, hours=1))
        )
        for n in range(2)
    ]


async def test_each_rep_is_busy_in_their_own_calendar(team_calendars):
    put_event(calendar_app(team_calendars, "sam-rivera"), MORNING, MORNING + timedelta(hours=1))
    jordan, sam = team_calendars.team.reps
    calendar = agent(team_calendars)

    assert await calendar.busy(jordan, *WEEK) == []
    assert await calendar.busy(sam, *WEEK) == [
        Interval(utc(MORNING), utc(MORNING + timedelta(hours=1)))
    ]


@pytest.mark.parametrize("step", ["busy", "write", "remove"])
async def test_an_unreachable_calendar_is_reported_unavailable(team_calendars, step):
    dead = agent(team_calendars, url=_dead_url())
    call = {
        "busy": lambda: dead.busy(team_calendars.team.reps[0], *WEEK),
        "write": lambda: dead.write(booking()),
        "remove": lambda: dead.remove(booking()),
    }[step]

    with pytest.raises(CalendarUnavailableError, match=r"cannot reach the server: .*refused"):
        await call()


async def test_a_calendar_that_never_answers_is_given_up_on_in_time(team_calendars):
    # Connections are taken (the backlog) but nothing ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/sales/calendar/"
        calendar = agent(team_calendars, url=url, timeout_seconds=0.3)

        with pytest.raises(CalendarUnavailableError, match=r"no answer within 0\.3 s"):
            await calendar.busy(team_calendars.team.reps[0], *WEEK)


# --- write and remove: the bookings in the rep's calendar ----------------------------


async def test_a_booking_shows_in_the_reps_calendar_app(team_calendars):
    meeting = booking()

    await agent(team_calendars).write(meeting)

    [event] = events_in(calendar_app(team_calendars))
    assert str(event["uid"]) == meeting_uid(meeting.meeting_id)
    assert event.start == meeting.starts_at and event.start.utcoffset() == timedelta(0)
    assert event.end == meeting.ends_at
    attendee = event["attendee"]
    assert str(attendee) == "mailto:ada@example.com"
    assert attendee.params["CN"] == "Ada Lovelace"
    assert str(event["organizer"]) == "mailto:jordan.lee@example.com"
    assert event["organizer"].params["CN"] == "Jordan Lee"


async def test_a_lead_without_email_is_an_attendee_by_phone(team_calendars):
    await agent(team_calendars).write(booking("sam-rivera", contact_email=""))

    [event] = events_in(calendar_app(team_calendars, "sam-rivera"))
    assert str(event["attendee"]) == "tel:+12025550143"
    assert event["attendee"].params["CN"] == "Ada Lovelace"
    assert events_in(calendar_app(team_calendars, "jordan-lee")) == []


async def test_a_booking_written_twice_is_one_event_and_is_busy(team_calendars):
    meeting = booking()
    calendar = agent(team_calendars)

    await calendar.write(meeting)
    await calendar.write(meeting)

    assert len(events_in(calendar_app(team_calendars))) == 1
    assert await calendar.busy(team_calendars.team.reps[0], *WEEK) == [
        Interval(meeting.starts_at, meeting.ends_at)
    ]


async def test_a_moved_meeting_replaces_its_event(team_calendars):
    first = booking()
    moved = booking(starts_at=MORNING + timedelta(days=1), meeting_id=first.meeting_id, revision=1)
    calendar = agent(team_calendars)

    await calendar.write(first)
    await calendar.write(moved)

    [event] = events_in(calendar_app(team_calendars))
    assert (event.start, event.end) == (moved.starts_at, moved.ends_at)
    assert event["sequence"] == 1
    assert await calendar.busy(team_calendars.team.reps[0], *WEEK) == [
        Interval(moved.starts_at, moved.ends_at)
    ]


async def test_an_earlier_revision_never_undoes_a_move(team_calendars):
    first = booking()
    moved = booking(starts_at=MORNING + timedelta(days=1), meeting_id=first.meeting_id, revision=1)
    calendar = agent(team_calendars)
    await calendar.write(moved)

    await calendar.write(first)  # a retry arriving late
    await calendar.remove(first)  # the old slot's booking taken out

    [event] = events_in(calendar_app(team_calendars))
    assert event.start == moved.starts_at


async def test_a_removed_booking_is_gone_and_removing_it_again_is_fine(team_calendars):
    meeting = booking()
    calendar = agent(team_calendars)
    await calendar.write(meeting)
    put_event(
        calendar_app(team_calendars), MORNING + timedelta(hours=3), MORNING + timedelta(hours=4)
    )

    await calendar.remove(meeting)
    await calendar.remove(meeting)

    [left] = events_in(calendar_app(team_calendars))
    assert str(left["summary"]) == "Dentist"  # the rep's own event stays


# --- check: the settings, tried as the service starts --------------------------------


async def test_check_passes_when_every_calendar_answers(team_calendars):
    await agent(team_calendars).check()


async def test_check_names_caldav_url_when_nothing_answers(team_calendars):
    url = _dead_url()

    with pytest.raises(SettingsError) as refused:
        await agent(team_calendars, url=url).check()

    assert f"CALDAV_URL={url}" in str(refused.value)
    assert "refused" in str(refused.value)


async def test_check_names_the_login_settings_for_a_wrong_password(team_calendars):
    with pytest.raises(SettingsError, match="CALDAV_USERNAME/CALDAV_PASSWORD"):
        await agent(team_calendars, password="not-the-secret").check()


async def test_check_names_the_login_settings_for_a_calendar_not_shared_with_it(
    team_calendars,
):
    theirs = f"{team_calendars.server.url}someone-else/calendar/"

    with pytest.raises(SettingsError) as refused:
        await agent(team_calendars, url=theirs).check()

    message = str(refused.value)
    assert "403" in message and theirs in message
    assert "CALDAV_USERNAME" in message and "CALDAV_PASSWORD" in message


async def test_check_says_when_the_url_is_no_calendar(team_calendars):
    home = f"{team_calendars.server.url}{team_calendars.server.username}/"

    with pytest.raises(SettingsError) as refused:
        await agent(team_calendars, url=home).check()

    assert f"CALDAV_URL={home}: not a calendar collection" in str(refused.value)


async def test_check_names_the_rep_whose_calendar_is_missing(team_calendars):
    missing = team_calendars.server.calendar_url("no-such-calendar")
    jordan, sam = team_calendars.team.reps
    team = replace(team_calendars.team, reps=(jordan, replace(sam, caldav_url=missing)))

    with pytest.raises(SettingsError) as refused:
        await agent(team_calendars, team=team).check()

    message = str(refused.value)
    assert "CALENDAR_TEAM_PATH" in message and "'sam-rivera'" in message
    assert f"caldav_url={missing}" in message and "not a calendar collection" in message


def _dead_url() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/sales/calendar/"

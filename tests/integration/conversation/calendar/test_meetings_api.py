"""The meetings API over HTTP: invites, cancel, reschedule, the feed, the list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from uuid import uuid4, uuid5

import pytest

from libs.bus import EventBus
from libs.events import MeetingCanceled, subject_for
from services.conversation.calendar.desk import Booked, BookingDesk
from services.conversation.calendar.port import (
    CalendarUnavailableError,
    EmbeddedCalendar,
    meeting_uid,
)
from services.conversation.calendar.routes import feed_key
from services.conversation.calendar.team import Rep
from tests.integration.conversation.calendar.invite_support import (
    NOW,
    TEAM,
    Clock,
    book,
    booking,
    meetings_api,
    parse_calendar,
    party,
    running_desk,
    slot,
    the_event,
)

TUESDAY_9 = datetime(2026, 3, 10, 9, 0)  # on Jordan's grid, New York time
TUESDAY_945 = datetime(2026, 3, 10, 9, 45)
TUESDAY_1030 = datetime(2026, 3, 10, 10, 30)
TOKEN = "test-api-token"


@pytest.fixture
async def desk(bus: EventBus) -> AsyncIterator[BookingDesk]:
    async with running_desk(bus) as desk:
        yield desk


def problem_of(response) -> dict:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.json()


async def test_the_invite_is_a_request_for_the_booking(bus: EventBus, desk: BookingDesk):
    at = slot("jordan-lee", TUESDAY_9)
    with_email = await book(desk, at)
    by_phone = await book(
        desk, slot("jordan-lee", TUESDAY_1030), party(contact_email="", contact_name="Ana")
    )
    async with meetings_api(bus, desk, Clock()) as api:
        response = await api.get(f"/meetings/{with_email}/invite.ics")
        again = await api.get(f"/meetings/{with_email}/invite.ics")
        phone = await api.get(f"/meetings/{by_phone}/invite.ics")
        meeting = (await api.get(f"/meetings/{with_email}")).json()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="meeting-{with_email}.ics"'
    )
    assert again.content == response.content  # the stored booking is its storage
    calendar = parse_calendar(response.content)
    assert calendar["method"] == "REQUEST"
    assert calendar["prodid"] and calendar["version"] == "2.0"
    event = the_event(calendar)
    assert event["uid"] == meeting_uid(with_email)
    assert event.decoded("dtstart") == at.starts_at
    assert event.decoded("dtend") == at.ends_at
    assert event["sequence"] == 0
    assert event["organizer"] == "mailto:jordan.lee@example.com"
    assert event["attendee"] == "mailto:pat@brightsmiles.example"
    assert the_event(parse_calendar(phone.content))["attendee"] == "tel:+13125550143"

    assert meeting["invite_url"].endswith(f"/meetings/{with_email}/invite.ics")
    assert meeting["status"] == "booked"
    assert meeting["starts_at"] == "2026-03-10T08:00:00-05:00"  # 09:00 in New York
    assert meeting["lead_zone"] == "America/Chicago"
    assert meeting["rep_email"] == "jordan.lee@example.com"
    assert meeting["revision"] == 0 and meeting["canceled_reason"] is None


async def test_cancel_frees_the_time_and_the_invite_becomes_a_cancel(
    bus: EventBus, desk: BookingDesk
):
    at = slot("jordan-lee", TUESDAY_9)
    meeting_id = await book(desk, at)
    async with meetings_api(bus, desk, Clock(NOW + timedelta(minutes=5))) as api:
        canceled = await api.post(
            f"/meetings/{meeting_id}/cancel", json={"detail": "the owner is away"}
        )
        invite = await api.get(f"/meetings/{meeting_id}/invite.ics")
        twice = await api.post(f"/meetings/{meeting_id}/cancel")
        unknown = await api.post(f"/meetings/{uuid4()}/cancel")
        retaken = await desk.book(at, party(), NOW)

    assert canceled.status_code == 200, canceled.text
    body = canceled.json()
    assert (body["status"], body["canceled_reason"]) == ("canceled", "canceled")
    assert body["canceled_detail"] == "the owner is away"
    stored = await bus.last_event(subject_for(MeetingCanceled, at.slot_id))
    assert isinstance(stored, MeetingCanceled)
    assert stored.occurred_at == NOW + timedelta(minutes=5)  # the API's clock

    calendar = parse_calendar(invite.content)
    assert calendar["method"] == "CANCEL"
    event = the_event(calendar)
    assert (event["status"], event["sequence"]) == ("CANCELLED", 1)
    assert event["uid"] == meeting_uid(meeting_id)

    assert twice.status_code == 409
    assert "canceled" in problem_of(twice)["detail"]
    assert unknown.status_code == 404
    assert "no meeting" in problem_of(unknown)["detail"]
    assert isinstance(retaken, Booked)  # the time is free again


async def test_reschedule_moves_the_meeting_and_frees_its_old_time(
    bus: EventBus, desk: BookingDesk
):
    old = slot("jordan-lee", TUESDAY_9)
    new = slot("jordan-lee", TUESDAY_1030)
    meeting_id = await book(desk, old)
    async with meetings_api(bus, desk, Clock()) as api:
        moved = await api.post(
            f"/meetings/{meeting_id}/reschedule",
            json={"starts_at": "2026-03-10T09:30:00-05:00"},  # 10:30 New York, in Chicago
        )
        read = (await api.get(f"/meetings/{meeting_id}")).json()
        invite = the_event(parse_calendar((await api.get(read["invite_url"])).content))
        old_time_free = await desk.book(old, party(), NOW)

    assert moved.status_code == 200, moved.text
    assert moved.json() == read
    assert read["starts_at"] == "2026-03-10T09:30:00-05:00"
    assert read["ends_at"] == "2026-03-10T10:00:00-05:00"
    assert (read["status"], read["revision"]) == ("booked", 1)
    assert invite["uid"] == meeting_uid(meeting_id)
    assert invite["sequence"] == 1
    assert invite.decoded("dtstart") == new.starts_at
    assert isinstance(old_time_free, Booked)
    freed = await bus.last_event(subject_for(MeetingCanceled, old.slot_id))
    assert isinstance(freed, MeetingCanceled) and freed.reason == "rescheduled"


async def test_a_time_that_cannot_be_had_is_refused_with_free_ones(
    bus: EventBus, desk: BookingDesk
):
    mine = await book(desk, slot("jordan-lee", TUESDAY_9))
    theirs = slot("jordan-lee", TUESDAY_945)
    await book(desk, theirs)
    async with meetings_api(bus, desk, Clock()) as api:
        taken = await api.post(
            f"/meetings/{mine}/reschedule", json={"starts_at": "2026-03-10T09:45:00-04:00"}
        )
        off_grid = await api.post(
            f"/meetings/{mine}/reschedule", json={"starts_at": "2026-03-10T09:10:00-04:00"}
        )
        naive = await api.post(
            f"/meetings/{mine}/reschedule", json={"starts_at": "2026-03-10T09:45:00"}
        )
        nobody = await api.post(
            f"/meetings/{mine}/reschedule",
            json={"starts_at": "2026-03-10T09:45:00-04:00", "rep_id": "nobody"},
        )
        other_rep = await api.post(  # Sam's 09:00 in Los Angeles: free
            f"/meetings/{mine}/reschedule",
            json={"starts_at": "2026-03-10T09:00:00-07:00", "rep_id": "sam-rivera"},
        )

    assert taken.status_code == 409
    refusal = problem_of(taken)
    assert "no longer free" in refusal["detail"] and "Jordan Lee" in refusal["detail"]
    alternatives = refusal["alternatives"]
    assert alternatives and all(
        datetime.fromisoformat(a["starts_at"]) != theirs.starts_at for a in alternatives
    )
    assert all(a["starts_at"].endswith("-05:00") for a in alternatives)  # the lead's zone
    for alternative in alternatives:  # each one really is free
        rep = TEAM.rep(alternative["rep_id"])
        assert isinstance(rep, Rep)
        start = datetime.fromisoformat(alternative["starts_at"])
        assert await desk.book(
            slot(rep.id, start.astimezone(rep.zone).replace(tzinfo=None)), party(), NOW
        )

    assert off_grid.status_code == 409
    assert "not a time on Jordan Lee's grid" in problem_of(off_grid)["detail"]
    assert problem_of(off_grid)["alternatives"]
    assert naive.status_code == 422
    assert "no UTC offset" in problem_of(naive)["detail"]
    assert nobody.status_code == 404
    assert other_rep.status_code == 200, other_rep.text
    assert other_rep.json()["rep_id"] == "sam-rivera"


async def test_the_feed_lists_a_reps_standing_meetings_and_needs_its_key(
    bus: EventBus, desk: BookingDesk
):
    standing = await book(desk, slot("jordan-lee", TUESDAY_9))
    gone = await book(desk, slot("jordan-lee", TUESDAY_1030))
    await desk.cancel(gone, NOW)
    others = await book(desk, slot("sam-rivera", TUESDAY_9))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with meetings_api(bus, desk, Clock(), api_token=TOKEN) as api:
        feeds = await api.get("/meetings/feeds", headers=bearer)
        without_token = await api.get("/meetings/feeds")
        url = {f["rep_id"]: f["url"] for f in feeds.json()["feeds"]}["jordan-lee"]
        subscribed = await api.get(url)  # as a calendar app does: no bearer token
        wrong = await api.get("/calendar/jordan-lee.ics", params={"key": "0" * 64})
        keyless = await api.get("/calendar/jordan-lee.ics")
        other_reps_key = await api.get(
            "/calendar/jordan-lee.ics", params={"key": feed_key(TOKEN, "sam-rivera")}
        )
        unknown = await api.get("/calendar/nobody.ics", params={"key": feed_key(TOKEN, "nobody")})

    assert feeds.status_code == 200 and without_token.status_code == 401
    assert url.endswith(f"/calendar/jordan-lee.ics?key={feed_key(TOKEN, 'jordan-lee')}")
    assert subscribed.status_code == 200
    assert subscribed.headers["content-type"].startswith("text/calendar")
    calendar = parse_calendar(subscribed.content)
    assert calendar["method"] == "PUBLISH"
    assert calendar["x-wr-calname"] == "Meetings: Jordan Lee"
    uids = [event["uid"] for event in calendar.walk("VEVENT")]
    assert uids == [meeting_uid(standing)]
    assert meeting_uid(gone) not in uids and meeting_uid(others) not in uids
    for refused in (wrong, keyless, other_reps_key):
        assert refused.status_code == 403
        assert "/meetings/feeds" in problem_of(refused)["detail"]
    assert unknown.status_code == 404


async def test_without_an_api_token_the_feed_is_open(bus: EventBus, desk: BookingDesk):
    meeting_id = await book(desk, slot("sam-rivera", TUESDAY_9))
    async with meetings_api(bus, desk, Clock()) as api:
        url = (await api.get("/meetings/feeds")).json()["feeds"][1]["url"]
        subscribed = await api.get(url)
    assert url.endswith("/calendar/sam-rivera.ics")
    uids = [e["uid"] for e in parse_calendar(subscribed.content).walk("VEVENT")]
    assert uids == [meeting_uid(meeting_id)]


async def test_meetings_are_listed_filtered_and_paged(bus: EventBus, desk: BookingDesk):
    campaign = uuid4()
    call_id = uuid4()
    lead_id = uuid4()
    wednesday = [datetime(2026, 3, 11, 9, 0) + timedelta(minutes=45 * i) for i in range(4)]
    in_campaign = [
        await book(desk, slot("jordan-lee", at), party(campaign_id=campaign)) for at in wednesday
    ]
    on_a_call = await book(
        desk, slot("sam-rivera", TUESDAY_9), party(call_id=call_id, lead_id=lead_id)
    )
    soonest = await book(desk, slot("jordan-lee", TUESDAY_9))
    await desk.cancel(in_campaign[1], NOW)
    async with meetings_api(bus, desk, Clock()) as api:

        async def ids(**params) -> list[str]:
            response = await api.get("/meetings", params=params)
            assert response.status_code == 200, response.text
            return [m["meeting_id"] for m in response.json()["meetings"]]

        everything = await ids()
        by_rep = await ids(rep_id="sam-rivera")
        canceled = await ids(status="canceled")
        booked = await ids(status="booked", campaign_id=str(campaign))
        by_call = await ids(call_id=str(call_id))
        by_lead = await ids(lead_id=str(lead_id))
        on_tuesday = await ids(**{"from": "2026-03-10", "to": "2026-03-10"})
        from_wednesday_10 = await ids(**{"from": "2026-03-11T10:30:00-04:00"})
        pages: list[list[str]] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/meetings", params=params)).json()
            pages.append([m["meeting_id"] for m in page["meetings"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        bad_cursor = await api.get("/meetings", params={"cursor": "not-a-cursor"})
        naive = await api.get("/meetings", params={"from": "2026-03-10T09:00:00"})
        too_many = await api.get("/meetings", params={"limit": 1001})

    def s(*meeting_ids) -> list[str]:
        return [str(m) for m in meeting_ids]

    assert everything == s(soonest, on_a_call, *in_campaign)  # soonest first
    assert by_rep == s(on_a_call)
    assert canceled == s(in_campaign[1])
    assert booked == s(in_campaign[0], in_campaign[2], in_campaign[3])
    assert by_call == by_lead == s(on_a_call)
    assert on_a_call == uuid5(call_id, str(slot("sam-rivera", TUESDAY_9).slot_id))
    assert on_tuesday == s(soonest, on_a_call)
    assert from_wednesday_10 == s(in_campaign[2], in_campaign[3])
    assert pages == [everything[0:2], everything[2:4], everything[4:6]]
    assert bad_cursor.status_code == 422 and "cursor" in problem_of(bad_cursor)["detail"]
    assert naive.status_code == 422 and "no UTC offset" in problem_of(naive)["detail"]
    assert too_many.status_code == 400


async def test_free_times_to_move_to_are_given_in_the_zone_asked_for(
    bus: EventBus, desk: BookingDesk
):
    await book(desk, slot("jordan-lee", TUESDAY_9))
    async with meetings_api(bus, desk, Clock()) as api:
        near = await api.get(
            "/meetings/slots",
            params={"zone": "America/Chicago", "around": "2026-03-10T08:00:00-05:00"},
        )
        soonest = await api.get("/meetings/slots", params={"zone": "Europe/Paris"})
        bad_zone = await api.get("/meetings/slots", params={"zone": "Mars/Olympus"})

    assert near.status_code == 200, near.text
    slots = near.json()["slots"]
    assert len(slots) == 3 and all(s["starts_at"].endswith("-05:00") for s in slots)
    taken = slot("jordan-lee", TUESDAY_9).starts_at
    assert all(
        not (s["rep_id"] == "jordan-lee" and datetime.fromisoformat(s["starts_at"]) == taken)
        for s in slots
    )
    assert all(s["starts_at"].endswith("+01:00") for s in soonest.json()["slots"])
    assert bad_zone.status_code == 422 and "IANA" in problem_of(bad_zone)["detail"]


class CalendarDown(EmbeddedCalendar):
    """An external calendar that cannot be reached: every read fails."""

    name = "caldav"

    async def busy(self, rep, start, end):
        raise CalendarUnavailableError("CALDAV_URL=http://127.0.0.1:9/: connection refused")


async def test_an_unreachable_calendar_is_a_503_with_retry_after(bus: EventBus):
    stored = booking(slot("jordan-lee", TUESDAY_9))
    await bus.publish(stored)
    meeting_id = stored.meeting_id
    down = BookingDesk(bus, TEAM, CalendarDown())
    async with down.running(), meetings_api(bus, down, Clock()) as api:
        offer = await api.get("/meetings/slots")
        move = await api.post(
            f"/meetings/{meeting_id}/reschedule", json={"starts_at": "2026-03-10T10:30:00-04:00"}
        )
        listed = await api.get("/meetings")
    for refused in (offer, move):
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "10"
        assert "CALDAV_URL" in problem_of(refused)["detail"]
    assert [m["meeting_id"] for m in listed.json()["meetings"]] == [str(meeting_id)]

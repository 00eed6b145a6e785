"""Invites as calendar files and as mail: built from the stored booking alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from icalendar import Calendar

from libs.events import MeetingBooked, MeetingCanceled
from services.conversation.calendar.ical import PRODUCT_ID, cancellation, feed, invite
from services.conversation.calendar.mail import Recipient, meeting_message, recipients
from services.conversation.calendar.port import meeting_uid
from services.conversation.calendar.routes import feed_key

MEETING = UUID("5b0a3f6e-8d44-4c1b-9a0e-2f7c6d5e4a31")
BOOKED_AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def booked(**overrides: object) -> MeetingBooked:
    fields: dict[str, object] = {
        "event_id": uuid5(MEETING, "booked"),
        "occurred_at": BOOKED_AT,
        "slot_id": uuid5(MEETING, "slot"),
        "meeting_id": MEETING,
        "rep_id": "jordan-lee",
        "rep_name": "Jordan Lee",
        "rep_email": "jordan.lee@example.com",
        "starts_at": datetime(2026, 3, 10, 13, 0, tzinfo=UTC),
        "ends_at": datetime(2026, 3, 10, 13, 30, tzinfo=UTC),
        "lead_zone": "Europe/Paris",
        "business_name": "Café Zoë",
        "contact_name": "Zoë Martin",
        "contact_number": "+33612345678",
        "contact_email": "zoe@cafe.example",
    }
    fields.update(overrides)
    return MeetingBooked(**fields)  # type: ignore[arg-type]


def only_event(body: bytes):
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    return event


def test_an_invite_is_a_request_and_the_same_bytes_every_time():
    body = invite(booked())
    assert body == invite(booked())
    calendar = Calendar.from_ical(body)
    assert (calendar["method"], calendar["prodid"], calendar["version"]) == (
        "REQUEST",
        PRODUCT_ID,
        "2.0",
    )
    event = only_event(body)
    assert event["uid"] == meeting_uid(MEETING)
    assert (event["sequence"], event["status"]) == (0, "CONFIRMED")
    assert event.decoded("dtstamp") == BOOKED_AT  # no clock read: the booking's own time
    assert only_event(invite(booked(revision=2)))["sequence"] == 2


def test_a_cancellation_is_one_sequence_later_and_stamped_with_the_cancel():
    canceled_at = BOOKED_AT + timedelta(hours=3)
    canceled = MeetingCanceled(
        event_id=uuid5(MEETING, "off"),
        occurred_at=canceled_at,
        slot_id=booked().slot_id,
        meeting_id=MEETING,
        revision=1,
    )
    body = cancellation(booked(revision=1), canceled)
    assert Calendar.from_ical(body)["method"] == "CANCEL"
    event = only_event(body)
    assert (event["status"], event["sequence"]) == ("CANCELLED", 2)
    assert event.decoded("dtstamp") == canceled_at
    assert body == cancellation(booked(revision=1), canceled)
    assert only_event(cancellation(booked())).decoded("dtstamp") == BOOKED_AT


def test_a_feed_publishes_the_meetings_given_soonest_first():
    later = booked(
        meeting_id=uuid5(MEETING, "later"),
        starts_at=datetime(2026, 3, 11, 13, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 11, 13, 30, tzinfo=UTC),
    )
    body = feed("Jordan Lee", [later, booked()])
    assert body == feed("Jordan Lee", [booked(), later])
    calendar = Calendar.from_ical(body)
    assert calendar["method"] == "PUBLISH"
    assert calendar["x-wr-calname"] == "Meetings: Jordan Lee"
    assert [e["uid"] for e in calendar.walk("VEVENT")] == [
        meeting_uid(MEETING),
        meeting_uid(later.meeting_id),
    ]
    assert Calendar.from_ical(feed("Jordan Lee", [])).walk("VEVENT") == []


def test_each_side_is_mailed_the_time_in_its_own_zone():
    rep, lead = recipients(booked(), NEW_YORK)
    assert (rep.role, rep.address, rep.zone) == ("rep", "jordan.lee@example.com", NEW_YORK)
    assert (lead.role, lead.address, lead.zone.key) == ("lead", "zoe@cafe.example", "Europe/Paris")
    assert [r.role for r in recipients(booked(contact_email=""), NEW_YORK)] == ["rep"]

    def sent(recipient: Recipient):
        message = meeting_message(
            booked(),
            recipient,
            sender="invites@brightline.example",
            kind="invite",
            written_at=BOOKED_AT,
        )
        # As it crosses the wire, and back.
        return message_from_bytes(message.as_bytes(), policy=policy.default)

    to_rep, to_lead = sent(rep), sent(lead)
    assert "09:00-09:30 EDT (America/New_York)" in to_rep.get_body(("plain",)).get_content()
    assert "14:00-14:30 CET (Europe/Paris)" in to_lead.get_body(("plain",)).get_content()
    assert to_lead["To"] == "Zoë Martin <zoe@cafe.example>"
    assert to_lead["Reply-To"] == "Jordan Lee <jordan.lee@example.com>"
    calendar_part = next(p for p in to_lead.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_content().encode() == invite(booked())  # CRLF and all
    assert to_rep["Message-ID"] != to_lead["Message-ID"]
    assert to_lead["Message-ID"] == sent(lead)["Message-ID"]  # the same on a retry


def test_a_cancellation_mail_carries_a_cancel():
    (_, lead) = recipients(booked(), NEW_YORK)
    message = meeting_message(
        booked(), lead, sender="jordan.lee@example.com", kind="cancellation", written_at=BOOKED_AT
    )
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "CANCEL"
    assert message["Subject"].startswith("Canceled: demo call with Jordan Lee")
    assert message["From"] == "Jordan Lee <jordan.lee@example.com>"
    assert message["Reply-To"] is None


def test_a_feed_key_is_an_hmac_of_the_rep_under_the_token():
    key = feed_key("token", "jordan-lee")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == feed_key("token", "jordan-lee")
    assert key != feed_key("token", "sam-rivera")
    assert key != feed_key("other-token", "jordan-lee")

"""A booking as an iCalendar VEVENT: one shape for the invite, the feed and CalDAV.

Built with the icalendar library, never by hand. The UID is the meeting's, so a moved
meeting updates the event a calendar already holds (its SEQUENCE is the revision), and
the lead is an ATTENDEE by email when one is known, else by phone number (a tel: URI).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from icalendar import Calendar, Event, vCalAddress, vDuration, vText

from libs.events import MeetingBooked, MeetingCanceled
from services.conversation.calendar.port import meeting_uid

PRODUCT_ID = "-//Sales Agent//Meetings//EN"


def meeting_event(booking: MeetingBooked, *, cancelled: bool = False) -> Event:
    event = Event()
    event.add("uid", meeting_uid(booking.meeting_id))
    event.add("dtstamp", booking.occurred_at)
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.ends_at)
    event.add("sequence", booking.revision + (1 if cancelled else 0))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("summary", f"{booking.business_name or booking.contact_name}: demo call")
    event.add("description", _description(booking))
    organizer = vCalAddress(f"mailto:{booking.rep_email}" if booking.rep_email else "")
    organizer.params["cn"] = vText(booking.rep_name)
    if booking.rep_email:
        event.add("organizer", organizer)
    attendee = vCalAddress(
        f"mailto:{booking.contact_email}"
        if booking.contact_email
        else f"tel:{booking.contact_number}"
    )
    attendee.params["cn"] = vText(booking.contact_name or booking.business_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")  # they agreed to it on the call
    event.add("attendee", attendee, encode=False)
    return event


def calendar_of(*events: Event, method: str | None = None) -> Calendar:
    """The VCALENDAR holding `events`: what a calendar stores (no METHOD) or what is sent
    or published (an iTIP METHOD: REQUEST, CANCEL, PUBLISH)."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method is not None:
        calendar.add("method", method)
    for event in events:
        calendar.add_component(event)
    return calendar


def _description(booking: MeetingBooked) -> str:
    lines = [
        f"With {booking.contact_name or 'the owner'} of {booking.business_name}".strip(),
        f"Phone: {booking.contact_number}" if booking.contact_number else "",
        f"Rep: {booking.rep_name}",
        "Booked on a call" if booking.call_id else "Booked through the API",
    ]
    return "\n".join(line for line in lines if line)


# Whole calendars: what is downloaded, mailed and subscribed to. Each is built from stored
# events alone (no clock is read), so the same booking always gives the same bytes.

# How often a subscribed calendar app is asked to fetch the feed again.
FEED_REFRESH = timedelta(minutes=15)


def invite(booking: MeetingBooked) -> bytes:
    """The booking as an iTIP REQUEST: a calendar that receives it adds the event, or, for a
    later revision of the meeting (same UID, higher SEQUENCE), moves it."""
    return calendar_of(meeting_event(booking), method="REQUEST").to_ical()


def cancellation(booking: MeetingBooked, canceled: MeetingCanceled | None = None) -> bytes:
    """The booking as an iTIP CANCEL: STATUS:CANCELLED, SEQUENCE one past the booking's, so
    a calendar that holds the event takes it out. Stamped with the cancel's time if given."""
    event = meeting_event(booking, cancelled=True)
    if canceled is not None:
        event.pop("dtstamp")
        event.add("dtstamp", canceled.occurred_at)
    return calendar_of(event, method="CANCEL").to_ical()


def feed(rep_name: str, meetings: Iterable[MeetingBooked]) -> bytes:
    """A rep's standing meetings as a published calendar, for a calendar app to subscribe
    to: the caller passes only the bookings that still hold."""
    calendar = calendar_of(method="PUBLISH")
    calendar.add("x-wr-calname", f"Meetings: {rep_name}")
    calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FEED_REFRESH))
    for booking in sorted(meetings, key=lambda b: (b.starts_at, str(b.meeting_id))):
        calendar.add_component(meeting_event(booking))
    return calendar.to_ical()

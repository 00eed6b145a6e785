"""A booking as an iCalendar VEVENT: one shape for the invite, the feed and CalDAV.

Built with the icalendar library, never by hand. The UID is the meeting's, so a moved
meeting updates the event a calendar already holds (its SEQUENCE is the revision), and
the lead is an ATTENDEE by email when one is known, else by phone number (a tel: URI).
"""

from __future__ import annotations

from icalendar import Calendar, Event, vCalAddress, vText

from libs.events import MeetingBooked
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


def calendar_of(*events: Event) -> Calendar:
    """The VCALENDAR holding `events`: what a calendar stores or a feed serves. A caller
    sending it as an invite adds its METHOD."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
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

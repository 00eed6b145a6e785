"""The calendar as one call uses it: the times offered to this lead, and the one booked.

What the model is given back is what it should say: each offered time as it is spoken in
the lead's zone, under a short token ("slot-2") that book_meeting takes back, so the model
never has to copy an instant. Only a time offered on this call can be booked. When the
calendar cannot be reached the call goes on: the model is told to follow up by email, and
the outcome says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger

from libs.events import CallRequested, MeetingBooked
from services.conversation.calendar.desk import Booked, BookingDesk, Party, Taken, Unavailable
from services.conversation.calendar.port import CalendarUnavailableError, Slot
from services.conversation.calendar.slots import LeadHours, Request

_UNAVAILABLE_SAY = (
    "The calendar cannot be reached right now: tell them you will follow up by email with "
    "some times, then wrap up. Nothing was booked."
)


def party_of(request: CallRequested, zone: ZoneInfo) -> Party:
    lead = request.lead
    email = next((v for k, v in lead.attributes.items() if k.casefold() == "email"), "")
    return Party(
        zone=zone.key,
        business_name=lead.business_name,
        contact_name=lead.contact_name,
        contact_number=lead.phone_number,
        contact_email=email.strip() if "@" in email else "",
        lead_id=request.lead_id,
        call_id=request.call_id,
        campaign_id=request.campaign_id,
    )


def spoken_time(moment: datetime) -> str:
    """ "Tuesday 8 December at 10:30 AM Mountain time"-like, in the moment's own zone."""
    clock = moment.strftime("%I:%M %p").lstrip("0")
    return f"{moment:%A} {moment.day} {moment:%B} at {clock} {moment:%Z}"


class CallBooker:
    def __init__(
        self,
        desk: BookingDesk,
        request: CallRequested,
        zone: ZoneInfo,
        clock: Callable[[], datetime],
    ) -> None:
        self.desk, self.zone, self.clock = desk, zone, clock
        self.party = party_of(request, zone)
        lead = request.lead
        self.hours = LeadHours(zone=zone, window=lead.best_call_window, days=lead.best_call_days)
        self.offered: dict[str, Slot] = {}
        self.booking: MeetingBooked | None = None
        self.trouble: str | None = None  # the calendar failed on this call: why

    async def check_availability(self, around: datetime | None) -> dict[str, Any]:
        request = Request(
            now=self.clock(),
            lead=self.hours,
            around=around,
            passed_over=frozenset(slot.slot_id for slot in self.offered.values()),
        )
        try:
            slots = await self.desk.offer(request)
        except CalendarUnavailableError as exc:
            return self._unavailable(str(exc))
        return self._offer(slots)

    async def book_meeting(self, token: str) -> dict[str, Any]:
        """Book an offered slot; the result says what to read back, or what to offer now."""
        if self.booking is not None:
            return {
                "booked": True,
                "error": "a meeting is already booked on this call; confirm it, do not book "
                "another",
                **self._said(self.booking),
            }
        slot = self.offered.get(token.strip())
        if slot is None:
            offered = ", ".join(self.offered) or "none yet: call check_availability first"
            return {"booked": False, "error": f"{token!r} was not offered on this call; "
                    f"offered: {offered}"}  # fmt: skip
        result = await self.desk.book(slot, self.party, self.clock())
        if isinstance(result, Booked):
            self.booking = result.booking
            return {"booked": True, **self._said(result.booking)}
        if isinstance(result, Unavailable):
            return self._unavailable(result.reason)
        assert isinstance(result, Taken)
        logger.info("The chosen time is not free: {reason}", reason=result.reason)
        again = await self.check_availability(None)
        # To the prospect, booked elsewhere a moment ago or no longer free is one thing.
        return {"booked": False, "error": "that time was just taken; offer the new times", **again}

    def _offer(self, slots: list[Slot]) -> dict[str, Any]:
        listed = []
        for slot in slots:
            token = f"slot-{len(self.offered) + 1}"
            self.offered[token] = slot
            local = slot.starts_at.astimezone(self.zone)
            rep = self.desk.team.rep(slot.rep_id)
            listed.append(
                {
                    "slot": token,
                    "time": local.isoformat(timespec="minutes"),
                    "say": spoken_time(local),
                    "with": rep.name if rep else slot.rep_id,
                }
            )
        logger.info("Offered {count} meeting times", count=len(listed))
        if not listed:
            return {
                "slots": [],
                "say": "No time is free within their hours soon: offer to follow up by email.",
            }
        return {"slots": listed, "say": "Offer these times; book the one they choose."}

    def _said(self, booking: MeetingBooked) -> dict[str, Any]:
        local = booking.starts_at.astimezone(self.zone)
        return {
            "meeting_id": str(booking.meeting_id),
            "time": local.isoformat(timespec="minutes"),
            "say": spoken_time(local),
            "with": booking.rep_name,
            "confirm": "Read the day and time back to them, with whom the meeting is.",
        }

    def _unavailable(self, reason: str) -> dict[str, Any]:
        self.trouble = reason
        logger.warning("The calendar is unavailable during the call: {reason}", reason=reason)
        return {"booked": False, "error": "the calendar is unavailable", "say": _UNAVAILABLE_SAY}

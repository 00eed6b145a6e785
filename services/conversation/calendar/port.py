"""The port an external calendar plugs into, and the slot and busy time it speaks of.

The stream is the ledger of bookings whatever the calendar: a slot is reserved there by
compare-and-set. An external calendar adds what it knows (busy times the team entered
themselves) and receives each booking, so that it shows in the rep's own calendar app.
The embedded calendar is the stream alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

import msgspec

from libs.events import MeetingBooked
from services.conversation.calendar.team import Rep


class Interval(msgspec.Struct, frozen=True):
    """A stretch of time, UTC, end excluded."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    """One bookable time with one rep."""

    slot_id: UUID  # libs.events.slot_id_for(rep_id, starts_at)
    rep_id: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC


class CalendarUnavailableError(RuntimeError):
    """The external calendar could not be read or written; the message says which and why."""


class ExternalCalendar(Protocol):
    name: str  # "embedded", "caldav": MeetingBooked.calendar

    async def check(self) -> None:
        """At start: reach every rep's calendar, or raise SettingsError naming the setting."""
        ...

    async def busy(self, rep: Rep, start: datetime, end: datetime) -> list[Interval]:
        """What the rep's calendar holds between start and end (UTC), this system's own
        bookings included; raises CalendarUnavailableError."""
        ...

    async def write(self, booking: MeetingBooked) -> None:
        """Put the booking in the rep's calendar (idempotent: its UID is the meeting id);
        raises CalendarUnavailableError."""
        ...

    async def remove(self, booking: MeetingBooked) -> None:
        """Take the booking out of the rep's calendar; one already gone is not an error."""
        ...


class EmbeddedCalendar:
    """No calendar beyond the stream: the bookings there are all that is busy."""

    name = "embedded"

    async def check(self) -> None:
        return None

    async def busy(self, rep: Rep, start: datetime, end: datetime) -> list[Interval]:
        return []

    async def write(self, booking: MeetingBooked) -> None:
        return None

    async def remove(self, booking: MeetingBooked) -> None:
        return None


def meeting_uid(meeting_id: UUID) -> str:
    """The iCalendar UID of a meeting: the same in the invite, the feed and CalDAV."""
    return f"{meeting_id}@sales-agent"

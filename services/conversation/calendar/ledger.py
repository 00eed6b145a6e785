"""Every booking on the stream, folded: which meetings stand, and what each rep has taken.

Pure: events in, answers out. The facts may arrive in any order (a slot's cancel before
its booking, when they come through different consumers) and more than once.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

from libs.events import MeetingBooked, MeetingCanceled
from services.conversation.calendar.port import Interval

MeetingStatus = Literal["booked", "canceled", "failed"]


class Meeting(msgspec.Struct, frozen=True, kw_only=True):
    """A meeting as it stands: its latest booking, and whether that still holds."""

    booking: MeetingBooked  # the latest revision
    status: MeetingStatus
    canceled: MeetingCanceled | None = None  # why it no longer holds

    @property
    def meeting_id(self) -> UUID:
        return self.booking.meeting_id


class MeetingLedger:
    def __init__(self) -> None:
        # meeting -> revision -> its booking; a cancel names the booking by both.
        self._bookings: dict[UUID, dict[int, MeetingBooked]] = {}
        self._cancels: dict[tuple[UUID, int], MeetingCanceled] = {}

    def apply(self, event: object) -> None:
        if isinstance(event, MeetingBooked):
            self._bookings.setdefault(event.meeting_id, {})[event.revision] = event
        elif isinstance(event, MeetingCanceled):
            self._cancels[(event.meeting_id, event.revision)] = event

    def _holds(self, booked: MeetingBooked) -> bool:
        return (booked.meeting_id, booked.revision) not in self._cancels

    def meeting(self, meeting_id: UUID) -> Meeting | None:
        revisions = self._bookings.get(meeting_id)
        if not revisions:
            return None
        latest = revisions[max(revisions)]
        canceled = self._cancels.get((meeting_id, latest.revision))
        if canceled is None:
            return Meeting(booking=latest, status="booked")
        status: MeetingStatus = "failed" if canceled.reason == "calendar-failed" else "canceled"
        return Meeting(booking=latest, status=status, canceled=canceled)

    def meetings(self) -> list[Meeting]:
        """Every meeting, soonest first."""
        found = (self.meeting(meeting_id) for meeting_id in self._bookings)
        return sorted(
            (meeting for meeting in found if meeting is not None),
            key=lambda meeting: (meeting.booking.starts_at, str(meeting.meeting_id)),
        )

    def holder(self, slot_id: UUID) -> MeetingBooked | None:
        """The booking that holds a slot now, if any."""
        for revisions in self._bookings.values():
            for booked in revisions.values():
                if booked.slot_id == slot_id and self._holds(booked):
                    return booked
        return None

    def taken(self, rep_id: str) -> list[Interval]:
        """The times a rep's standing bookings take, soonest first."""
        standing = (
            Interval(booked.starts_at, booked.ends_at)
            for revisions in self._bookings.values()
            for booked in revisions.values()
            if booked.rep_id == rep_id and self._holds(booked)
        )
        return sorted(standing, key=lambda taken: taken.start)

"""Where meetings are booked, moved and canceled: the ledger on the stream, the external
calendar beside it.

A booking is reserved by compare-and-set on its slot's subject: it is stored only if the
latest booking there is the one the desk read, and that one was canceled (or there was
none). Of two calls offered the same time, one books it; the other is told it was taken,
with new times. Only then is the booking written to the external calendar; if that fails
the reservation is canceled at once (reason calendar-failed), so no booking is half-made.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4, uuid5

import msgspec
from loguru import logger

from libs.bus import EventBus
from libs.bus.follower import StreamFollower
from libs.events import MeetingBooked, MeetingCanceled, subject_filter, subject_for
from libs.events.model import MeetingCancelReason
from services.conversation.calendar.ledger import Meeting, MeetingLedger
from services.conversation.calendar.port import (
    CalendarUnavailableError,
    ExternalCalendar,
    Interval,
    Slot,
)
from services.conversation.calendar.slots import Request, bookable, free_slots
from services.conversation.calendar.team import Team

# Fixed forever: a booking's event id is derived from it, so a retried write is a duplicate.
_BOOKING_NAMESPACE = UUID("7a4c1e2b-5d3f-4a8e-9b61-0c2d3e4f5a6b")


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """Who a meeting is with, and the call it was agreed on (none: booked through the API)."""

    zone: str  # IANA: the lead's, which times are spoken in
    business_name: str = ""
    contact_name: str = ""
    contact_number: str = ""
    contact_email: str = ""
    lead_id: UUID | None = None
    call_id: UUID | None = None
    campaign_id: UUID | None = None


@dataclass(frozen=True)
class Booked:
    booking: MeetingBooked


@dataclass(frozen=True)
class Taken:
    """Someone else has the time now (or it is no longer bookable)."""

    reason: str


@dataclass(frozen=True)
class Unavailable:
    """The calendar could not be reached: nothing was booked."""

    reason: str


BookingResult = Booked | Taken | Unavailable


class MeetingNotFoundError(LookupError):
    pass


class MeetingNotBookedError(ValueError):
    """The meeting no longer holds (canceled, or never written): it cannot change."""


class BookingDesk:
    def __init__(self, bus: EventBus, team: Team, external: ExternalCalendar) -> None:
        self.bus, self.team, self.external = bus, team, external
        self.ledger = MeetingLedger()
        self._followers = [
            StreamFollower(bus, [subject_filter(kind)], self.ledger.apply, f"calendar-{verb}")
            for kind, verb in ((MeetingBooked, "booked"), (MeetingCanceled, "canceled"))
        ]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BookingDesk]:
        # Started and stopped together: each takes up to a fetch's wait to stop.
        followers = [follower.running() for follower in self._followers]
        await asyncio.gather(*(follower.__aenter__() for follower in followers))
        try:
            await asyncio.gather(*(follower.caught_up(30.0) for follower in self._followers))
            logger.info(
                "Calendar ready ({calendar}): {reps} reps, {meetings} meetings on the stream",
                calendar=self.external.name,
                reps=len(self.team.reps),
                meetings=len(self.ledger.meetings()),
            )
            yield self
        finally:
            await asyncio.gather(
                *(follower.__aexit__(None, None, None) for follower in followers),
                return_exceptions=True,
            )

    # Reading ------------------------------------------------------------------------

    async def taken(self, start: datetime, end: datetime) -> dict[str, list[Interval]]:
        """What each rep has on between start and end: bookings here and in their calendar."""
        external = await asyncio.gather(
            *(self.external.busy(rep, start, end) for rep in self.team.reps)
        )
        return {
            rep.id: sorted([*self.ledger.taken(rep.id), *busy], key=lambda i: i.start)
            for rep, busy in zip(self.team.reps, external, strict=True)
        }

    async def offer(self, request: Request) -> list[Slot]:
        """Up to three free slots for the request; raises CalendarUnavailableError."""
        taken = await self.taken(
            request.now + self.team.minimum_notice, request.now + self.team.horizon
        )
        return free_slots(self.team, request, taken)

    def meeting(self, meeting_id: UUID) -> Meeting:
        meeting = self.ledger.meeting(meeting_id)
        if meeting is None:
            raise MeetingNotFoundError(f"no meeting {meeting_id}")
        return meeting

    # Writing ------------------------------------------------------------------------

    async def book(
        self,
        slot: Slot,
        party: Party,
        now: datetime,
        *,
        meeting_id: UUID | None = None,
        revision: int = 0,
    ) -> BookingResult:
        """Reserve the slot for the party, then write it to the external calendar."""
        rep = self.team.rep(slot.rep_id)
        if rep is None:
            return Taken(f"no rep {slot.rep_id!r} on the team")
        try:
            busy = await self.external.busy(rep, slot.starts_at, slot.ends_at)
        except CalendarUnavailableError as exc:
            return Unavailable(str(exc))
        if not bookable(self.team, slot, now, [*self.ledger.taken(rep.id), *busy]):
            return Taken("that time is no longer free")
        meeting_id = meeting_id or (
            uuid5(party.call_id, str(slot.slot_id)) if party.call_id else uuid4()
        )
        booking = MeetingBooked(
            event_id=uuid5(_BOOKING_NAMESPACE, f"{meeting_id}/{revision}"),
            occurred_at=now,
            slot_id=slot.slot_id,
            meeting_id=meeting_id,
            rep_id=rep.id,
            rep_name=rep.name,
            rep_email=rep.email,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            lead_zone=party.zone,
            calendar=self.external.name,
            lead_id=party.lead_id,
            call_id=party.call_id,
            campaign_id=party.campaign_id,
            business_name=party.business_name,
            contact_name=party.contact_name,
            contact_number=party.contact_number,
            contact_email=party.contact_email,
            revision=revision,
        )
        if not await self._reserve(booking):
            logger.info("Slot {slot} was just taken", slot=slot.starts_at.isoformat())
            return Taken("that time was just taken")
        self.ledger.apply(booking)  # this process sees its own booking at once
        try:
            await self.external.write(booking)
        except CalendarUnavailableError as exc:
            logger.warning("The calendar refused the booking: {error}", error=str(exc))
            await self._cancel(booking, "calendar-failed", str(exc), now)
            return Unavailable(str(exc))
        logger.info(
            "Meeting {meeting} booked with {rep} at {at}",
            meeting=str(meeting_id),
            rep=rep.id,
            at=slot.starts_at.isoformat(),
        )
        return Booked(booking)

    async def _reserve(self, booking: MeetingBooked) -> bool:
        """Compare-and-set on the slot: stored only over nothing, or over a booking since
        canceled; a retry of this very booking is a duplicate, and counts as stored."""
        last = await self.bus.last_stored(booking.subject)
        sequence = 0
        if last is not None:
            holder, sequence = last
            assert isinstance(holder, MeetingBooked)
            if holder.event_id == booking.event_id:
                return True
            canceled = await self.bus.last_event(subject_for(MeetingCanceled, booking.slot_id))
            ended = (
                isinstance(canceled, MeetingCanceled)
                and canceled.meeting_id == holder.meeting_id
                and canceled.revision == holder.revision
            )
            if not ended:
                return False
        return await self.bus.publish_if_last(booking, sequence)

    async def cancel(self, meeting_id: UUID, now: datetime, detail: str = "") -> Meeting:
        """Cancel a standing meeting: the slot is free again, and the event leaves the
        rep's calendar."""
        meeting = self._standing(meeting_id)
        await self._cancel(meeting.booking, "canceled", detail, now)
        try:
            await self.external.remove(meeting.booking)
        except CalendarUnavailableError as exc:  # the stream says canceled; say so too
            logger.warning("The calendar kept a canceled meeting: {error}", error=str(exc))
        logger.info("Meeting {meeting} canceled", meeting=str(meeting_id))
        return self.meeting(meeting_id)

    async def reschedule(self, meeting_id: UUID, slot: Slot, now: datetime) -> BookingResult:
        """Move a standing meeting to another slot: the new one is reserved first, then the
        old one freed; the calendar's event (same UID) moves with it."""
        meeting = self._standing(meeting_id)
        old = meeting.booking
        party = Party(
            zone=old.lead_zone,
            business_name=old.business_name,
            contact_name=old.contact_name,
            contact_number=old.contact_number,
            contact_email=old.contact_email,
            lead_id=old.lead_id,
            call_id=old.call_id,
            campaign_id=old.campaign_id,
        )
        result = await self.book(slot, party, now, meeting_id=meeting_id, revision=old.revision + 1)
        if isinstance(result, Booked):
            await self._cancel(old, "rescheduled", f"moved to {slot.starts_at.isoformat()}", now)
        return result

    def _standing(self, meeting_id: UUID) -> Meeting:
        meeting = self.meeting(meeting_id)
        if meeting.status != "booked":
            raise MeetingNotBookedError(f"meeting {meeting_id} is {meeting.status}")
        return meeting

    async def _cancel(
        self, booking: MeetingBooked, reason: MeetingCancelReason, detail: str, now: datetime
    ) -> None:
        canceled = MeetingCanceled(
            event_id=uuid5(_BOOKING_NAMESPACE, f"{booking.meeting_id}/{booking.revision}/off"),
            occurred_at=now,
            slot_id=booking.slot_id,
            meeting_id=booking.meeting_id,
            revision=booking.revision,
            reason=reason,
            detail=detail[:500],
        )
        await self.bus.publish(canceled)
        self.ledger.apply(canceled)

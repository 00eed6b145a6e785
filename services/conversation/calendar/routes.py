"""The meetings API: list and read bookings, download an invite, cancel and move a meeting,
and a per-rep calendar feed that any calendar app can subscribe to.

Thin handlers over the booking desk (dependency `calendar_desk`), with the time taken from
`calendar_now`, so that a test, or a simulated clock, says what now is. Every refusal is
problem+json: 404 an unknown meeting or rep, 409 a meeting that no longer stands or a time
that cannot be had (with free times instead), 422 input that parses but means nothing (a
time without its UTC offset, an unknown zone), 503 with Retry-After when the calendar
cannot be reached.

Calendar apps cannot send a bearer token, so with API_TOKEN set a feed's URL carries its
own key, `?key=`: an HMAC-SHA256 of the rep's id under the API token. GET /meetings/feeds
(which needs the token) lists each rep's URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from loguru import logger

from libs.events import slot_id_for
from libs.events.model import MeetingCancelReason
from libs.runtime.problems import problem
from services.conversation.calendar.desk import (
    Booked,
    BookingDesk,
    MeetingNotBookedError,
    MeetingNotFoundError,
    Taken,
)
from services.conversation.calendar.ical import cancellation, feed, invite
from services.conversation.calendar.ledger import Meeting, MeetingStatus
from services.conversation.calendar.mail import zone_of
from services.conversation.calendar.port import CalendarUnavailableError, Slot
from services.conversation.calendar.slots import LeadHours, rep_slots
from services.conversation.calendar.slots import Request as OfferRequest
from services.conversation.calendar.team import Rep

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CALENDAR_RETRY_AFTER_SECONDS = 10
ICS = "text/calendar; charset=utf-8"


# What goes out -------------------------------------------------------------------------


class MeetingView(msgspec.Struct, frozen=True, kw_only=True):
    meeting_id: UUID
    status: MeetingStatus
    starts_at: datetime  # with the offset of the lead's zone
    ends_at: datetime
    lead_zone: str
    rep_id: str
    rep_name: str
    rep_email: str
    business_name: str
    contact_name: str
    contact_number: str
    contact_email: str
    lead_id: UUID | None
    call_id: UUID | None
    campaign_id: UUID | None
    calendar: str
    revision: int  # the invite's SEQUENCE: one more each time the meeting moved
    booked_at: datetime  # when its current time was booked
    canceled_reason: MeetingCancelReason | None
    canceled_detail: str | None
    invite_url: str


class MeetingPage(msgspec.Struct, frozen=True, kw_only=True):
    meetings: list[MeetingView]
    next_cursor: str | None  # pass as `cursor` for the next page; none: this was the last


class SlotView(msgspec.Struct, frozen=True, kw_only=True):
    slot_id: UUID
    rep_id: str
    rep_name: str
    starts_at: datetime  # with the offset of the zone asked for
    ends_at: datetime


class SlotList(msgspec.Struct, frozen=True, kw_only=True):
    zone: str
    slots: list[SlotView]


class FeedView(msgspec.Struct, frozen=True, kw_only=True):
    rep_id: str
    rep_name: str
    url: str


class FeedList(msgspec.Struct, frozen=True, kw_only=True):
    feeds: list[FeedView]


# What comes in -------------------------------------------------------------------------


class CancelMeeting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    detail: Annotated[str, msgspec.Meta(max_length=500)] = ""


class RescheduleMeeting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    starts_at: datetime  # with its UTC offset, e.g. 2026-03-10T10:00:00-05:00
    rep_id: str | None = None  # unset: the meeting's own rep


# Refusals ------------------------------------------------------------------------------


class MalformedInputError(ValueError):
    """Input that parsed but means nothing: 422."""


class UnknownRepError(LookupError):
    """No such rep on the team: 404."""


class FeedKeyError(PermissionError):
    """A feed asked for without its key, or with the wrong one: 403."""


class SlotRefusedError(Exception):
    """The time asked for cannot be had: 409, with free times to choose from instead."""

    def __init__(self, reason: str, alternatives: Sequence[SlotView]) -> None:
        super().__init__(reason)
        self.alternatives = list(alternatives)

    def problem_extra(self) -> dict[str, Any]:
        return {"alternatives": msgspec.to_builtins(self.alternatives)}


PROBLEMS: dict[type[Exception], int] = {
    MalformedInputError: 422,
    UnknownRepError: 404,
    MeetingNotFoundError: 404,
    FeedKeyError: 403,
    MeetingNotBookedError: 409,
    SlotRefusedError: 409,
    CalendarUnavailableError: 503,
}


def _to_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status = next(
        (code for error, code in PROBLEMS.items() if isinstance(exc, error)),
        500,
    )
    extra = exc.problem_extra() if isinstance(exc, SlotRefusedError) else {}
    if status >= 500:
        logger.warning("{path}: {error}", path=request.url.path, error=str(exc))
    else:
        logger.info("{path} refused: {error}", path=request.url.path, error=str(exc))
    response = problem(status, str(exc), **extra)
    if status == 503:
        response.headers["Retry-After"] = str(CALENDAR_RETRY_AFTER_SECONDS)
    return response


EXCEPTION_HANDLERS = dict.fromkeys(PROBLEMS, _to_problem)


# Meetings ------------------------------------------------------------------------------

FROM = QueryParameter(
    name="from", description="meetings that start at or after this date (UTC) or time"
)
TO = QueryParameter(
    name="to", description="meetings that start before this time, or by the end of this date"
)


@get("/meetings")
async def list_meetings(
    request: Request[Any, Any, Any],
    calendar_desk: NamedDependency[BookingDesk],
    rep_id: FromQuery[str | None] = None,
    status: FromQuery[Literal["booked", "canceled", "failed"] | None] = None,
    start_from: Annotated[str | None, FROM] = None,
    start_to: Annotated[str | None, TO] = None,
    campaign_id: FromQuery[UUID | None] = None,
    lead_id: FromQuery[UUID | None] = None,
    call_id: FromQuery[UUID | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> MeetingPage:
    """Meetings, soonest first, filtered; `from` and `to` bound their start (a date, or a
    time with its offset; `to` is exclusive, a date in it included whole, dates in UTC)."""
    earliest = _moment("from", start_from) if start_from else None
    latest = _moment("to", start_to, end_of_day=True) if start_to else None
    after = _read_cursor(cursor) if cursor else None
    chosen: list[Meeting] = []
    more = False
    for meeting in calendar_desk.ledger.meetings():
        booking = meeting.booking
        if (
            (rep_id is not None and booking.rep_id != rep_id)
            or (status is not None and meeting.status != status)
            or (earliest is not None and booking.starts_at < earliest)
            or (latest is not None and booking.starts_at >= latest)
            or (campaign_id is not None and booking.campaign_id != campaign_id)
            or (lead_id is not None and booking.lead_id != lead_id)
            or (call_id is not None and booking.call_id != call_id)
            or (after is not None and _position(meeting) <= after)
        ):
            continue
        if len(chosen) == limit:
            more = True
            break
        chosen.append(meeting)
    base = _base_url(request)
    return MeetingPage(
        meetings=[meeting_view(meeting, base) for meeting in chosen],
        next_cursor=_write_cursor(chosen[-1]) if more else None,
    )


@get("/meetings/slots")
async def meeting_slots(
    calendar_desk: NamedDependency[BookingDesk],
    calendar_now: NamedDependency[datetime],
    zone: FromQuery[str] = "UTC",
    around: FromQuery[str | None] = None,
) -> SlotList:
    """Free times to move a meeting to: the soonest, or the nearest to `around` (a time
    with its offset), each given in `zone` (IANA, e.g. America/Chicago)."""
    lead_zone = _zone("zone", zone)
    near = _moment("around", around) if around else None
    slots = await calendar_desk.offer(
        OfferRequest(now=_utc(calendar_now), lead=LeadHours(zone=lead_zone), around=near)
    )
    return SlotList(zone=lead_zone.key, slots=_slot_views(calendar_desk, slots, lead_zone))


@get("/meetings/feeds")
async def meeting_feeds(
    request: Request[Any, Any, Any], calendar_desk: NamedDependency[BookingDesk], state: State
) -> FeedList:
    """Each rep's calendar feed: a URL to subscribe to in any calendar app."""
    token = _api_token(state)
    base = _base_url(request)
    return FeedList(
        feeds=[
            FeedView(
                rep_id=rep.id,
                rep_name=rep.name,
                url=f"{base}/calendar/{rep.id}.ics"
                + (f"?key={feed_key(token, rep.id)}" if token else ""),
            )
            for rep in calendar_desk.team.reps
        ]
    )


@get("/meetings/{meeting_id:uuid}")
async def get_meeting(
    request: Request[Any, Any, Any],
    calendar_desk: NamedDependency[BookingDesk],
    meeting_id: FromPath[UUID],
) -> MeetingView:
    return meeting_view(calendar_desk.meeting(meeting_id), _base_url(request))


@get("/meetings/{meeting_id:uuid}/invite.ics")
async def meeting_invite(
    calendar_desk: NamedDependency[BookingDesk], meeting_id: FromPath[UUID]
) -> Response[bytes]:
    """The meeting as a calendar file: its invite while it stands, else its cancellation."""
    meeting = calendar_desk.meeting(meeting_id)
    body = (
        invite(meeting.booking)
        if meeting.status == "booked"
        else cancellation(meeting.booking, meeting.canceled)
    )
    return Response(
        body,
        media_type=ICS,
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.ics"'},
    )


@post("/meetings/{meeting_id:uuid}/cancel", status_code=200)
async def cancel_meeting(
    request: Request[Any, Any, Any],
    calendar_desk: NamedDependency[BookingDesk],
    calendar_now: NamedDependency[datetime],
    meeting_id: FromPath[UUID],
    data: JSONBody[CancelMeeting | None] = None,
) -> MeetingView:
    """Cancel a standing meeting: its time is free again, and its event leaves the rep's
    calendar (and, with SMTP_HOST set, both sides are mailed the cancellation)."""
    detail = (data or CancelMeeting()).detail
    meeting = await calendar_desk.cancel(meeting_id, _utc(calendar_now), detail)
    return meeting_view(meeting, _base_url(request))


@post("/meetings/{meeting_id:uuid}/reschedule", status_code=200)
async def reschedule_meeting(
    request: Request[Any, Any, Any],
    calendar_desk: NamedDependency[BookingDesk],
    calendar_now: NamedDependency[datetime],
    meeting_id: FromPath[UUID],
    data: JSONBody[RescheduleMeeting],
) -> MeetingView:
    """Move a standing meeting to another time on a rep's grid (its own rep unless
    `rep_id` says otherwise); a time that cannot be had is refused with free ones."""
    now = _utc(calendar_now)
    meeting = calendar_desk.meeting(meeting_id)
    if meeting.status != "booked":
        raise MeetingNotBookedError(f"meeting {meeting_id} is {meeting.status}: it cannot move")
    if data.starts_at.utcoffset() is None:
        raise MalformedInputError(
            f"starts_at {data.starts_at.isoformat()} has no UTC offset: write the time with "
            "its offset, e.g. 2026-03-10T10:00:00-05:00, or in UTC with Z"
        )
    starts_at = data.starts_at.astimezone(UTC)
    rep_id = data.rep_id or meeting.booking.rep_id
    rep = calendar_desk.team.rep(rep_id)
    if rep is None:
        raise UnknownRepError(f"rep_id: no rep {rep_id!r} on the team")
    lead_zone = zone_of(meeting.booking.lead_zone)
    slot = _slot_at(calendar_desk, rep, starts_at)
    refusal = _why_not(calendar_desk, meeting, rep, slot, starts_at, now)
    if refusal is None:
        assert slot is not None
        result = await calendar_desk.reschedule(meeting_id, slot, now)
        if isinstance(result, Booked):
            return meeting_view(calendar_desk.meeting(meeting_id), _base_url(request))
        if not isinstance(result, Taken):
            raise CalendarUnavailableError(f"the calendar could not be reached: {result.reason}")
        refusal = result.reason
    raise SlotRefusedError(
        f"{_local(starts_at, lead_zone)} with {rep.name}: {refusal}",
        await _alternatives(calendar_desk, lead_zone, starts_at, now, slot),
    )


# The feed ------------------------------------------------------------------------------


@get("/calendar/{feed_file:str}", opt={"access": "public"})
async def rep_feed(
    calendar_desk: NamedDependency[BookingDesk],
    state: State,
    feed_file: FromPath[str],
    key: FromQuery[str | None] = None,
) -> Response[bytes]:
    """A rep's standing meetings as an iCalendar feed (`/calendar/<rep_id>.ics`); with
    API_TOKEN set, the URL's `key` (GET /meetings/feeds) is the credential."""
    rep_id = feed_file.removesuffix(".ics")
    token = _api_token(state)
    if token is not None:
        expected = feed_key(token, rep_id)
        if not key or not hmac.compare_digest(key.encode(), expected.encode()):
            raise FeedKeyError(
                "this feed needs the key its URL carries (?key=...): GET /meetings/feeds, "
                "with the API token, lists each rep's URL"
            )
    rep = calendar_desk.team.rep(rep_id) if feed_file.endswith(".ics") else None
    if rep is None:
        raise UnknownRepError(f"no rep {rep_id!r} on the team: feeds are /calendar/<rep_id>.ics")
    standing = [
        meeting.booking
        for meeting in calendar_desk.ledger.meetings()
        if meeting.status == "booked" and meeting.booking.rep_id == rep.id
    ]
    return Response(
        feed(rep.name, standing),
        media_type=ICS,
        headers={"Content-Disposition": f'inline; filename="{rep.id}.ics"'},
    )


def feed_key(api_token: str, rep_id: str) -> str:
    """The key of a rep's feed URL: HMAC-SHA256 of the rep id under the API token, hex."""
    return hmac.new(api_token.encode(), rep_id.encode(), hashlib.sha256).hexdigest()


# Wiring --------------------------------------------------------------------------------

ROUTE_HANDLERS = [
    list_meetings,
    meeting_slots,
    meeting_feeds,
    get_meeting,
    meeting_invite,
    cancel_meeting,
    reschedule_meeting,
    rep_feed,
]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def calendar_router(
    desk: Callable[[], BookingDesk | None], clock: Callable[[], datetime] = _wall_clock
) -> Router:
    """The meetings API over the desk `desk()` gives (None: not started yet, a 503), its
    time from `clock` (UTC), its refusals problem+json."""

    def current_desk() -> BookingDesk:
        found = desk()
        if found is None:
            raise CalendarUnavailableError("the calendar is still starting")
        return found

    return Router(
        path="/",
        route_handlers=ROUTE_HANDLERS,
        dependencies={
            "calendar_desk": Provide(current_desk, sync_to_thread=False),
            "calendar_now": Provide(lambda: clock(), sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        tags=["meetings"],
    )


# Helpers -------------------------------------------------------------------------------


def meeting_view(meeting: Meeting, base_url: str) -> MeetingView:
    booking = meeting.booking
    zone = zone_of(booking.lead_zone)
    canceled = meeting.canceled
    return MeetingView(
        meeting_id=booking.meeting_id,
        status=meeting.status,
        starts_at=booking.starts_at.astimezone(zone),
        ends_at=booking.ends_at.astimezone(zone),
        lead_zone=booking.lead_zone,
        rep_id=booking.rep_id,
        rep_name=booking.rep_name,
        rep_email=booking.rep_email,
        business_name=booking.business_name,
        contact_name=booking.contact_name,
        contact_number=booking.contact_number,
        contact_email=booking.contact_email,
        lead_id=booking.lead_id,
        call_id=booking.call_id,
        campaign_id=booking.campaign_id,
        calendar=booking.calendar,
        revision=booking.revision,
        booked_at=booking.occurred_at,
        canceled_reason=canceled.reason if canceled else None,
        canceled_detail=canceled.detail if canceled else None,
        invite_url=f"{base_url}/meetings/{booking.meeting_id}/invite.ics",
    )


def _slot_at(desk: BookingDesk, rep: Rep, starts_at: datetime) -> Slot | None:
    """The slot of the rep's grid that starts then, if there is one."""
    wanted = slot_id_for(rep.id, starts_at)
    grid = rep_slots(desk.team, rep, starts_at, starts_at + desk.team.meeting)
    return next((slot for slot in grid if slot.slot_id == wanted), None)


def _why_not(
    desk: BookingDesk,
    meeting: Meeting,
    rep: Rep,
    slot: Slot | None,
    starts_at: datetime,
    now: datetime,
) -> str | None:
    """Why the meeting cannot move to that time, as far as can be told before trying."""
    team = desk.team
    if slot is None:
        step = int((team.meeting + team.buffer).total_seconds() // 60)
        return (
            f"not a time on {rep.name}'s grid ({rep.starts:%H:%M}-{rep.ends:%H:%M} "
            f"{rep.zone.key} on working days, a meeting every {step} minutes from "
            f"{rep.starts:%H:%M})"
        )
    if slot.slot_id == meeting.booking.slot_id:
        return "the meeting is already at that time"
    if slot.starts_at < now + team.minimum_notice:
        minutes = int(team.minimum_notice.total_seconds() // 60)
        return f"too soon: a meeting needs {minutes} minutes' notice"
    if slot.ends_at > now + team.horizon:
        return f"too far out: meetings are booked at most {team.horizon.days} days ahead"
    return None


async def _alternatives(
    desk: BookingDesk, zone: ZoneInfo, around: datetime, now: datetime, refused: Slot | None
) -> list[SlotView]:
    passed_over = frozenset({refused.slot_id}) if refused else frozenset()
    try:
        slots = await desk.offer(
            OfferRequest(now=now, lead=LeadHours(zone=zone), around=around, passed_over=passed_over)
        )
    except CalendarUnavailableError as exc:
        logger.warning("No free times to offer instead: {error}", error=str(exc))
        return []
    return _slot_views(desk, slots, zone)


def _slot_views(desk: BookingDesk, slots: Sequence[Slot], zone: ZoneInfo) -> list[SlotView]:
    views = []
    for slot in slots:
        rep = desk.team.rep(slot.rep_id)
        views.append(
            SlotView(
                slot_id=slot.slot_id,
                rep_id=slot.rep_id,
                rep_name=rep.name if rep else slot.rep_id,
                starts_at=slot.starts_at.astimezone(zone),
                ends_at=slot.ends_at.astimezone(zone),
            )
        )
    return views


# A "+" in a query string arrives as a space unless it was encoded (%2B): take it back.
_SPACED_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")


def _moment(name: str, text: str, *, end_of_day: bool = False) -> datetime:
    """A time with its offset, or a date (a whole UTC day), as UTC."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", text))
    except ValueError:
        raise MalformedInputError(
            f"{name}={text!r} is not a date or an ISO 8601 time, e.g. 2026-03-10 or "
            "2026-03-10T09:00:00-05:00"
        ) from None
    if moment.utcoffset() is None:
        raise MalformedInputError(
            f"{name}={text!r} has no UTC offset: write the time with its offset, e.g. "
            "2026-03-10T09:00:00-05:00, or in UTC with Z"
        )
    return moment.astimezone(UTC)


def _zone(name: str, text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise MalformedInputError(
            f"{name}={text!r} is not an IANA time zone, e.g. America/Chicago"
        ) from None


def _utc(now: datetime) -> datetime:
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat()


def _position(meeting: Meeting) -> tuple[datetime, str]:
    return meeting.booking.starts_at, str(meeting.meeting_id)


def _write_cursor(meeting: Meeting) -> str:
    starts_at, meeting_id = _position(meeting)
    raw = json.dumps([starts_at.isoformat(), meeting_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        starts_at, meeting_id = json.loads(raw)
        position = datetime.fromisoformat(starts_at).astimezone(UTC), str(UUID(meeting_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise MalformedInputError(
            "cursor: not one this API gave out; pass next_cursor from the page before"
        ) from None
    return position


def _api_token(state: State) -> str | None:
    return state.get("api_token")


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")

"""Each rep's calendar on a CalDAV server: its busy times read, each booking written there.

A rep's calendar is the collection at their `caldav_url` in the team file, else the one at
CALDAV_URL, both reached with CALDAV_USERNAME and CALDAV_PASSWORD. The caldav library is
synchronous: every call runs in a worker thread, under a deadline.

A booking is stored at an address of its own in the calendar (`<meeting id>.ics`, its
UID the meeting's), so writing it again, or a later revision of it, replaces the one
event. Its SEQUENCE is the booking's revision, and an earlier revision never replaces or
removes a later one: a late retry cannot undo a move.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import caldav
from caldav.elements import dav
from caldav.lib import error
from icalendar import Component
from loguru import logger
from niquests.exceptions import ConnectionError as HttpConnectionError
from niquests.exceptions import RequestException, Timeout

from libs.events import MeetingBooked
from libs.runtime.settings import SettingsError
from services.conversation.calendar.ical import calendar_of, meeting_event
from services.conversation.calendar.port import (
    CalendarUnavailableError,
    Interval,
)
from services.conversation.calendar.team import SETTING as TEAM_SETTING
from services.conversation.calendar.team import Rep, Team

_CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()]+)")
_UNRESOLVED = re.compile(r"Failed to resolve '([^']+)'")

T = TypeVar("T")


@dataclass
class _Target:
    """One calendar collection, with the client that talks to it."""

    url: str  # without any credentials: it goes into messages and logs
    setting: str  # what configured it, for messages: "CALDAV_URL=..." or the team entry
    client: caldav.DAVClient
    calendar: caldav.Calendar
    # The client's HTTP session and the login it negotiated are shared state: one
    # request at a time per calendar.
    lock: threading.Lock = field(default_factory=threading.Lock)


class CalDavCalendar:
    name = "caldav"

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        team: Team,
        timeout_seconds: float = 10,
    ) -> None:
        self._username = username
        self._timeout = timeout_seconds
        self._targets: dict[str, _Target] = {}  # rep id -> their calendar
        by_url: dict[str, _Target] = {}  # reps without a caldav_url share CALDAV_URL's
        for rep in team.reps:
            if rep.caldav_url:
                address = rep.caldav_url
                setting = f"{TEAM_SETTING}: rep {rep.id!r} caldav_url={_shown(address)}"
            elif url:
                address, setting = url, f"CALDAV_URL={_shown(url)}"
            else:
                raise SettingsError(
                    f"CALDAV_URL is empty and rep {rep.id!r} in {TEAM_SETTING} has no "
                    "caldav_url: set the URL of a calendar for every rep"
                )
            if address not in by_url:
                by_url[address] = self._target(address, setting, username, password)
            self._targets[rep.id] = by_url[address]
        self._calendars = list(by_url.values())

    def _target(self, address: str, setting: str, username: str, password: str) -> _Target:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{setting}: not an http(s) URL of a calendar")
        client = caldav.DAVClient(
            url=address,
            username=username or None,
            password=password or None,
            # A whole request, connection included, ends by the deadline a call has.
            timeout=self._timeout,
            # The URL names the calendar itself: no DNS discovery of a service behind it.
            enable_rfc6764=False,
        )
        calendar = caldav.Calendar(client=client, url=address)
        return _Target(_shown(address), setting, client, calendar)

    async def check(self) -> None:
        """Reach every rep's calendar once, as the service starts: a wrong URL or login
        stops it with the setting to fix, rather than failing the first booking."""
        for target in self._calendars:
            try:
                kinds = await self._run(target, _resource_types)
            # The library fails from many layers (HTTP, DAV, XML, iCalendar): whatever
            # it was, the caller gets the one error the port promises, with the reason.
            except Exception as exc:
                raise SettingsError(self._refusal(target, exc)) from None
            if _CALENDAR_TYPE not in kinds:
                raise SettingsError(
                    f"{target.setting}: not a calendar collection (it is "
                    f"{_kind(kinds)}): give the URL of the calendar itself"
                )
            logger.info("CalDAV calendar reachable at {url}", url=target.url)

    async def busy(self, rep: Rep, start: datetime, end: datetime) -> list[Interval]:
        target = self._target_of(rep.id)
        window = Interval(start.astimezone(UTC), end.astimezone(UTC))

        def read(calendar: caldav.Calendar) -> list[Interval]:
            # Asked in the rep's zone: the library then matches all-day events and
            # floating times as that rep's days, not UTC ones. Recurrences come back
            # expanded, one object per occurrence.
            found = calendar.search(
                event=True,
                start=start.astimezone(rep.zone),
                end=end.astimezone(rep.zone),
                expand=True,
            )
            held = (_held(item.icalendar_component, rep.zone) for item in found)
            return sorted(
                (span for span in held if span is not None and span.overlaps(window)),
                key=lambda span: (span.start, span.end),
            )

        try:
            intervals = await self._run(target, read)
        except Exception as exc:
            raise self._unavailable(target, "read", exc) from None
        logger.info(
            "CalDAV calendar of {rep} holds {count} busy times between {start} and {end}",
            rep=rep.id,
            count=len(intervals),
            start=window.start.isoformat(),
            end=window.end.isoformat(),
        )
        return intervals

    async def write(self, booking: MeetingBooked) -> None:
        target = self._target_of(booking.rep_id)
        data = calendar_of(meeting_event(booking)).to_ical().decode()

        def put(calendar: caldav.Calendar) -> bool:
            event = _stored(calendar, booking)
            if event is None:
                event = caldav.Event(
                    client=calendar.client, url=_address(calendar, booking), parent=calendar
                )
            elif _sequence(event) > booking.revision:
                # Writes may land out of order (a retry after a move): the later one stands.
                return False
            # Over the version just read (If-Match), so one written meanwhile is not lost;
            # SEQUENCE is the booking's revision already: the library must not bump it.
            event.data = data
            event.save(increase_seqno=False)
            return True

        try:
            written = await self._run(target, put)
        except Exception as exc:
            raise self._unavailable(target, "write to", exc) from None
        logger.info(
            "Meeting {meeting} (revision {revision}) {outcome} the CalDAV calendar of {rep}",
            meeting=str(booking.meeting_id),
            revision=booking.revision,
            outcome="written to" if written else "left as a later revision in",
            rep=booking.rep_id,
        )

    async def remove(self, booking: MeetingBooked) -> None:
        target = self._target_of(booking.rep_id)

        def delete(calendar: caldav.Calendar) -> str:
            stored = _stored(calendar, booking)
            if stored is None:
                return "already gone from"
            if _sequence(stored) > booking.revision:
                # The meeting was moved since (same UID, later revision): that one stays.
                return "kept, as moved since, in"
            # Only the version just read: a revision written meanwhile is not lost.
            stored.delete(if_match=True)
            return "removed from"

        try:
            outcome = await self._run(target, delete)
        except Exception as exc:
            raise self._unavailable(target, "remove from", exc) from None
        logger.info(
            "Meeting {meeting} (revision {revision}) {outcome} the CalDAV calendar of {rep}",
            meeting=str(booking.meeting_id),
            revision=booking.revision,
            outcome=outcome,
            rep=booking.rep_id,
        )

    def _target_of(self, rep_id: str) -> _Target:
        target = self._targets.get(rep_id)
        if target is None:
            raise CalendarUnavailableError(f"rep {rep_id!r} is not in {TEAM_SETTING}")
        return target

    async def _run(self, target: _Target, call: Callable[[caldav.Calendar], T]) -> T:
        """`call` on the target's calendar in a worker thread, within the deadline."""
        deadline = time.monotonic() + self._timeout

        def locked() -> T:
            if not target.lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
                raise TimeoutError
            try:
                # A thread outlives a caller that gave up: past the deadline, do nothing.
                if time.monotonic() >= deadline:
                    raise TimeoutError
                return call(target.calendar)
            finally:
                target.lock.release()

        async with asyncio.timeout(self._timeout):
            return await asyncio.to_thread(locked)

    def _refusal(self, target: _Target, exc: Exception) -> str:
        """What check() says when the calendar could not be read: the setting to fix."""
        if isinstance(exc, error.AuthorizationError) and exc.status == 403:
            return (
                f"CALDAV_USERNAME={self._username!r} may not read {target.url} (403 Forbidden): "
                "check CALDAV_USERNAME and CALDAV_PASSWORD, or share the calendar with that user"
            )
        if isinstance(exc, error.AuthorizationError):
            return (
                f"CALDAV_USERNAME/CALDAV_PASSWORD: {target.url} refused the login of "
                f"{self._username!r} (401 Unauthorized)"
            )
        if isinstance(exc, error.NotFoundError):
            return f"{target.setting}: not a calendar collection (nothing there: 404 Not Found)"
        return f"{target.setting}: {_reason(exc, self._timeout)}"

    def _unavailable(self, target: _Target, doing: str, exc: Exception) -> Exception:
        reason = _reason(exc, self._timeout)
        logger.warning(
            "Could not {doing} the CalDAV calendar at {url}: {reason}",
            doing=doing,
            url=target.url,
            reason=reason,
        )
        return CalendarUnavailableError(f"could not {doing} the calendar at {target.url}: {reason}")


def _resource_types(calendar: caldav.Calendar) -> list[str]:
    kinds = calendar.get_properties([dav.ResourceType()]).get(dav.ResourceType.tag)
    return list(kinds or [])


def _stored(calendar: caldav.Calendar, booking: MeetingBooked) -> caldav.Event | None:
    """The booking's event as the calendar holds it now, if it does."""
    event = caldav.Event(client=calendar.client, url=_address(calendar, booking), parent=calendar)
    try:
        event.load(multiget_fallback=False)
    except error.NotFoundError:
        return None
    return event


def _address(calendar: caldav.Calendar, booking: MeetingBooked) -> str:
    # The meeting id alone: a UID with an "@" is spelled two ways in URLs by servers.
    return str(calendar.url.join(f"{booking.meeting_id}.ics"))


def _sequence(event: caldav.Event) -> int:
    return int(event.icalendar_component.get("SEQUENCE", 0))


def _held(event: Component, zone: ZoneInfo) -> Interval | None:
    """The time an event takes up, UTC; None if it leaves the time free."""
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None  # shown as free by its owner (a reminder, a holiday marker)
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if event.get("DTSTART") is None:
        return None
    start, end = _instant(event.start, zone), _instant(event.end, zone)
    # An event with a start alone takes no time (RFC 5545 3.6.1): it blocks nothing.
    return Interval(start, end) if end > start else None


def _instant(moment: date | datetime, zone: ZoneInfo) -> datetime:
    """UTC; a date is its midnight in the rep's zone, a floating time their wall clock."""
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(moment, time_of_day(), zone).astimezone(UTC)


def _kind(kinds: list[str]) -> str:
    names = " ".join(kind.rpartition("}")[2] for kind in kinds if kind != "{DAV:}collection")
    if names:
        return f"{'an' if names[0] in 'aeiou' else 'a'} {names} collection"
    return "a plain collection" if kinds else "not a collection"


def _reason(exc: BaseException, timeout: float) -> str:
    """Why a request failed, in a few words (the HTTP library's own message is long)."""
    if isinstance(exc, (TimeoutError, Timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, error.AuthorizationError) and exc.status == 403:
        return "not allowed for CALDAV_USERNAME (403 Forbidden): a calendar shared read-only?"
    if isinstance(exc, error.AuthorizationError):
        return "the login was refused (401): check CALDAV_USERNAME and CALDAV_PASSWORD"
    if isinstance(exc, error.DAVError):
        return f"the server answered {exc.status or 'an error'} ({type(exc).__name__})"
    if isinstance(exc, HttpConnectionError):
        text = str(exc)
        if unresolved := _UNRESOLVED.search(text):
            return f"cannot reach the server: no such host {unresolved[1]!r}"
        if errno := _ERRNO.search(text):
            return f"cannot reach the server: {errno[1].strip()}"
        return f"cannot reach the server: {type(exc).__name__}"
    if isinstance(exc, RequestException):
        return f"the request failed ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def _shown(address: str) -> str:
    """The URL without any user and password in it, fit for messages and logs."""
    parts = urlsplit(address)
    if "@" not in parts.netloc:
        return address
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

"""For the meetings API and invite mail tests: a team, a booking desk over the test's stream,
the API served over loopback, and a real SMTP server (aiosmtpd) that keeps what it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4, uuid5

import httpx
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from icalendar import Calendar

from libs.bus import EventBus
from libs.events import MeetingBooked, MeetingCanceled
from libs.events.model import MeetingCancelReason
from libs.runtime.app import build_app
from libs.runtime.plugin import ServicePlugin
from services.conversation.calendar.desk import Booked, BookingDesk, Party
from services.conversation.calendar.mailer import CONSUMER
from services.conversation.calendar.port import EmbeddedCalendar, Slot
from services.conversation.calendar.routes import calendar_router
from services.conversation.calendar.slots import rep_slots
from services.conversation.calendar.team import RepEntry, Team, TeamFile, team_from
from tests.support import serving

# A Monday noon, UTC (08:00 in New York): the grid's first free slots are that afternoon.
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
TEAM: Team = team_from(
    TeamFile(
        meeting_minutes=30,
        buffer_minutes=15,
        minimum_notice_minutes=60,
        horizon_days=14,
        reps=[
            RepEntry(
                id="jordan-lee",
                name="Jordan Lee",
                email="jordan.lee@example.com",
                time_zone="America/New_York",
            ),
            RepEntry(
                id="sam-rivera",
                name="Sam Rivera",
                email="sam.rivera@example.com",
                time_zone="America/Los_Angeles",
            ),
        ],
    )
)
LEAD_ZONE = "America/Chicago"
# The mailer as it runs, quicker to stop and to try again.
QUICK_MAIL = dataclasses.replace(CONSUMER, idle_wait=0.2, retry_delays=(0.05,))


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def slot(rep_id: str, local: datetime) -> Slot:
    """The slot of the rep's grid that starts at `local` (a time in the rep's zone)."""
    rep = TEAM.rep(rep_id)
    assert rep is not None
    starts_at = local.replace(tzinfo=rep.zone).astimezone(UTC)
    found = [s for s in rep_slots(TEAM, rep, starts_at, starts_at + TEAM.meeting)]
    assert found and found[0].starts_at == starts_at, f"{local} is not on {rep_id}'s grid"
    return found[0]


def party(**overrides: Any) -> Party:
    fields: dict[str, Any] = {
        "zone": LEAD_ZONE,
        "business_name": "Bright Smiles Dental",
        "contact_name": "Pat Morgan",
        "contact_number": "+13125550143",
        "contact_email": "pat@brightsmiles.example",
        "lead_id": uuid4(),
        "campaign_id": uuid4(),
    }
    fields.update(overrides)
    return Party(**fields)


async def book(desk: BookingDesk, at: Slot, who: Party | None = None) -> UUID:
    result = await desk.book(at, who or party(), NOW)
    assert isinstance(result, Booked), result
    return result.booking.meeting_id


def booking(
    at: Slot, *, calendar: str = "embedded", meeting_id: UUID | None = None, **overrides: Any
) -> MeetingBooked:
    """A booking as the desk stores it, for tests that start from the stream's facts."""
    rep = TEAM.rep(at.rep_id)
    assert rep is not None
    who = party(**overrides)
    meeting_id = meeting_id or uuid4()
    return MeetingBooked(
        event_id=uuid5(meeting_id, "booked"),
        occurred_at=NOW,
        slot_id=at.slot_id,
        meeting_id=meeting_id,
        rep_id=rep.id,
        rep_name=rep.name,
        rep_email=rep.email,
        starts_at=at.starts_at,
        ends_at=at.ends_at,
        lead_zone=who.zone,
        calendar=calendar,
        lead_id=who.lead_id,
        call_id=who.call_id,
        campaign_id=who.campaign_id,
        business_name=who.business_name,
        contact_name=who.contact_name,
        contact_number=who.contact_number,
        contact_email=who.contact_email,
    )


def canceled(
    booked: MeetingBooked, reason: MeetingCancelReason = "canceled", detail: str = ""
) -> MeetingCanceled:
    return MeetingCanceled(
        event_id=uuid5(booked.event_id, "canceled"),
        occurred_at=NOW,
        slot_id=booked.slot_id,
        meeting_id=booked.meeting_id,
        revision=booked.revision,
        reason=reason,
        detail=detail,
    )


@contextlib.asynccontextmanager
async def running_desk(bus: EventBus) -> AsyncIterator[BookingDesk]:
    async with BookingDesk(bus, TEAM, EmbeddedCalendar()).running() as desk:
        yield desk


@contextlib.asynccontextmanager
async def meetings_api(
    bus: EventBus, desk: BookingDesk, clock: Callable[[], datetime], api_token: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The meetings API as the service serves it: the app shape, guard and error handling
    every process has, on real uvicorn over loopback."""
    plugin = ServicePlugin(name="meetings", route_handlers=[calendar_router(lambda: desk, clock)])
    app = build_app([plugin], bus=bus, api_token=api_token, title="meetings")
    async with serving(app) as client:
        yield client


def parse_calendar(body: bytes | str) -> Calendar:
    return Calendar.from_ical(body)


def the_event(calendar: Calendar) -> Any:
    events = calendar.walk("VEVENT")
    assert len(events) == 1, events
    return events[0]


# The SMTP server ----------------------------------------------------------------------


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def to(self) -> str:
        (recipient,) = self.envelope_to
        return recipient

    def part(self, content_type: str) -> EmailMessage:
        parts = [p for p in self.message.walk() if p.get_content_type() == content_type]
        assert len(parts) == 1, [p.get_content_type() for p in self.message.walk()]
        return parts[0]  # type: ignore[return-value]

    @property
    def calendar(self) -> Calendar:
        return parse_calendar(self.part("text/calendar").get_content())

    @property
    def text(self) -> str:
        return self.part("text/plain").get_content()


@dataclass
class Inbox:
    """aiosmtpd's handler: keeps each message, or refuses the DATA of the ones numbered in
    `refuse` (1 is the first message offered) with a temporary failure."""

    refuse: Collection[int] = ()
    received: list[Received] = field(default_factory=list)
    offered: int = 0
    logins: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.offered += 1
        self._changed.set()
        if self.offered in self.refuse:
            return "451 4.3.0 Mailbox busy, try again later"
        content = envelope.content
        assert isinstance(content, bytes)
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 2.0.0 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if r.to == address]


@dataclass(frozen=True)
class Account:
    username: str
    password: str

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.username.encode(),
            self.password.encode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=data)


@contextlib.asynccontextmanager
async def smtp_server(
    inbox: Inbox, *, tls: ssl.SSLContext | None = None, account: Account | None = None
) -> AsyncIterator[int]:
    """A real SMTP server (aiosmtpd) on a free loopback port, on this test's event loop; the
    mailer's smtplib runs in a thread, so the two talk as over any network. With `tls`, it
    requires STARTTLS; with `account`, it requires that login."""
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        return SMTP(
            inbox,
            hostname="mail.test",
            tls_context=tls,
            require_starttls=tls is not None,
            authenticator=account,
            auth_required=account is not None,
            loop=loop,
        )

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

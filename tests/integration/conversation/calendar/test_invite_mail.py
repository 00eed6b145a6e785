"""Invites mailed through a real SMTP server (aiosmtpd): to whom, what, once, and when not."""

from __future__ import annotations

import dataclasses
import ssl
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from libs.bus import EventBus
from libs.runtime.settings import SettingsError
from services.conversation.calendar.desk import Booked
from services.conversation.calendar.mail import MailError, SmtpServer, send
from services.conversation.calendar.mailer import (
    CONSUMER,
    Mailer,
    mailer_from_settings,
    running_mailer,
)
from services.conversation.calendar.port import meeting_uid
from services.conversation.calendar.team import RepEntry, TeamFile, team_from
from services.conversation.config import ConversationSettings
from tests.certificates import write_certificates
from tests.conftest import LogWatch
from tests.integration.conversation.calendar.invite_support import (
    NOW,
    QUICK_MAIL,
    TEAM,
    Account,
    Inbox,
    booking,
    canceled,
    closed_port,
    party,
    running_desk,
    slot,
    smtp_server,
)

REP = "jordan.lee@example.com"
LEAD = "pat@brightsmiles.example"
TUESDAY_9 = datetime(2026, 3, 10, 9, 0)  # New York: 13:00 UTC, 08:00 in Chicago
TUESDAY_1030 = datetime(2026, 3, 10, 10, 30)
WEDNESDAY_9 = datetime(2026, 3, 11, 9, 0)


def settings(port: int, **overrides: object) -> ConversationSettings:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_from": "invites@brightline.example",
    }
    values.update(overrides)
    return ConversationSettings(**values)  # type: ignore[arg-type]


def quick(mailer: Mailer | None, **overrides: object) -> Mailer:
    assert mailer is not None
    mailer.consumer = QUICK_MAIL
    mailer.retry_seconds = (0.05,)
    for name, value in overrides.items():
        setattr(mailer, name, value)
    return mailer


async def test_a_booking_mails_its_invite_to_the_rep_and_the_lead(bus: EventBus):
    inbox = Inbox()
    async with smtp_server(inbox) as port, running_desk(bus) as desk:
        mailer = quick(mailer_from_settings(settings(port), TEAM))
        async with running_mailer(bus, mailer):
            at = slot("jordan-lee", TUESDAY_9)
            result = await desk.book(at, party(), NOW)
            assert isinstance(result, Booked)
            await inbox.wait_for(2)

    assert sorted(r.to for r in inbox.received) == [REP, LEAD]
    for received in inbox.received:
        part = received.part("text/calendar")
        assert part.get_param("method") == "REQUEST"
        calendar = received.calendar
        assert calendar["method"] == "REQUEST"
        event = calendar.walk("VEVENT")[0]
        assert event["uid"] == meeting_uid(result.booking.meeting_id)
        assert event["sequence"] == 0
        assert event.decoded("dtstart") == at.starts_at
        assert received.message["From"] == "invites@brightline.example"
        assert received.message["Reply-To"] == f"Jordan Lee <{REP}>"
    (rep,) = inbox.to(REP)
    (lead,) = inbox.to(LEAD)
    assert "Tuesday 10 March 2026, 09:00-09:30 EDT (America/New_York)" in rep.text
    assert "Pat Morgan of Bright Smiles Dental" in rep.text
    assert "Tuesday 10 March 2026, 08:00-08:30 CDT (America/Chicago)" in lead.text
    assert "Your demo call with Jordan Lee" in lead.text
    assert lead.message["Subject"] == "Demo call with Jordan Lee, Tue 10 Mar, 08:00 CDT"


async def test_a_cancel_mails_the_cancellation_and_a_move_an_updated_invite(bus: EventBus):
    inbox = Inbox()
    async with smtp_server(inbox) as port, running_desk(bus) as desk:
        mailer = quick(mailer_from_settings(settings(port), TEAM))
        async with running_mailer(bus, mailer):
            first = await desk.book(slot("jordan-lee", TUESDAY_9), party(), NOW)
            assert isinstance(first, Booked)
            await inbox.wait_for(2)
            moved = await desk.reschedule(
                first.booking.meeting_id, slot("jordan-lee", TUESDAY_1030), NOW
            )
            assert isinstance(moved, Booked)
            await inbox.wait_for(4)
            await desk.cancel(first.booking.meeting_id, NOW, "not interested after all")
            await inbox.wait_for(6)
            # A marker after everything: once it is mailed, all before it was handled.
            await bus.publish(booking(slot("sam-rivera", WEDNESDAY_9), contact_email=""))
            await inbox.wait_for(7)

    methods = [(r.to, r.calendar["method"]) for r in inbox.received[:6]]
    assert methods == [
        (REP, "REQUEST"),
        (LEAD, "REQUEST"),
        (REP, "REQUEST"),  # the move: the same UID, one later in SEQUENCE
        (LEAD, "REQUEST"),
        (REP, "CANCEL"),
        (LEAD, "CANCEL"),
    ]
    events = [r.calendar.walk("VEVENT")[0] for r in inbox.received[:6]]
    assert {e["uid"] for e in events} == {meeting_uid(first.booking.meeting_id)}
    assert [e["sequence"] for e in events] == [0, 0, 1, 1, 2, 2]
    assert events[2].decoded("dtstart") == slot("jordan-lee", TUESDAY_1030).starts_at
    assert events[4]["status"] == "CANCELLED"
    assert "Moved: demo call" in inbox.received[2].message["Subject"]
    assert "canceled" in inbox.to(LEAD)[-1].text
    assert inbox.received[6].to == "sam.rivera@example.com"  # the marker: nothing between


async def test_a_booking_the_calendar_refused_is_never_mailed(bus: EventBus, log_watch: LogWatch):
    inbox = Inbox()
    refused_at_once = booking(slot("jordan-lee", TUESDAY_9), calendar="caldav")
    refused_later = booking(slot("jordan-lee", TUESDAY_1030), calendar="caldav")
    marker = booking(slot("sam-rivera", WEDNESDAY_9), contact_email="")
    async with smtp_server(inbox) as port:
        mailer = quick(mailer_from_settings(settings(port), TEAM), settle_seconds=1.0)
        await bus.publish(refused_at_once)
        await bus.publish(canceled(refused_at_once, "calendar-failed", "CALDAV_URL: 503"))
        async with running_mailer(bus, mailer):
            await bus.publish(refused_later)
            # Too young to mail: it waits out the settle time, in which the refusal comes.
            await log_watch.wait_for(lambda r: "calendar may refuse it yet" in r["message"])
            await bus.publish(canceled(refused_later, "calendar-failed", "CALDAV_URL: 503"))
            await bus.publish(marker)
            await inbox.wait_for(1)
            await log_watch.wait_for(
                lambda r: (
                    "refused by the calendar" in r["message"]
                    and r["extra"].get("meeting_id") == str(refused_later.meeting_id)
                )
            )

    assert [r.to for r in inbox.received] == ["sam.rivera@example.com"]
    skipped = [r for r in log_watch.records if "refused by the calendar" in str(r["message"])]
    assert {r["extra"]["meeting_id"] for r in skipped} == {
        str(refused_at_once.meeting_id),
        str(refused_later.meeting_id),
    }


async def test_an_external_booking_is_mailed_once_it_has_settled(
    bus: EventBus, log_watch: LogWatch
):
    inbox = Inbox()
    settled = booking(slot("jordan-lee", TUESDAY_9), calendar="caldav")
    async with smtp_server(inbox) as port:
        mailer = quick(mailer_from_settings(settings(port), TEAM), settle_seconds=0.5)
        async with running_mailer(bus, mailer):
            await bus.publish(settled)
            await inbox.wait_for(2)
    assert any("calendar may refuse it yet" in str(r["message"]) for r in log_watch.records)
    assert sorted(r.to for r in inbox.received) == [REP, LEAD]


async def test_nothing_is_mailed_without_smtp_host(bus: EventBus):
    inbox = Inbox()
    async with smtp_server(inbox), running_desk(bus) as desk:
        mailer = mailer_from_settings(ConversationSettings(), TEAM)
        assert mailer is None
        async with running_mailer(bus, mailer) as running:
            assert running is None
            assert isinstance(await desk.book(slot("jordan-lee", TUESDAY_9), party(), NOW), Booked)
            with pytest.raises(NotFoundError):  # no consumer was ever made
                await bus.js.consumer_info(bus.stream, CONSUMER.durable)
    assert inbox.offered == 0


async def test_a_server_that_refuses_and_then_accepts_gets_each_invite_once(
    bus: EventBus, log_watch: LogWatch
):
    # Refused: the first message (the rep's), then the third (the lead's, on the retry).
    inbox = Inbox(refuse={1, 3})
    stored = booking(slot("jordan-lee", TUESDAY_9))
    async with smtp_server(inbox) as port:
        mailer = quick(mailer_from_settings(settings(port), TEAM))
        await bus.publish(stored)
        async with running_mailer(bus, mailer):
            await inbox.wait_for(2)
            marker = booking(slot("sam-rivera", WEDNESDAY_9), contact_email="")
            await bus.publish(marker)
            await inbox.wait_for(3)

    assert [r.to for r in inbox.received] == [REP, LEAD, "sam.rivera@example.com"]
    assert inbox.offered == 5
    warnings = [r for r in log_watch.records if "was not sent" in str(r["message"])]
    assert [w["extra"]["meeting_id"] for w in warnings] == [str(stored.meeting_id)] * 2
    assert "SMTP_HOST=127.0.0.1" in str(warnings[0]["message"])
    assert "451" in str(warnings[0]["message"])


async def test_starttls_and_login(bus: EventBus, tmp_path: Path, monkeypatch):
    ca, certificate, key = write_certificates(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the client trusts the test's CA
    inbox = Inbox()
    account = Account("invites", "s3cret")
    async with smtp_server(inbox, tls=tls, account=account) as port:
        with pytest.raises(SettingsError, match="SMTP_PASSWORD"):
            SmtpServer.from_settings(
                settings(port, smtp_security="starttls", smtp_username="invites")
            )
        good = SmtpServer.from_settings(
            settings(
                port, smtp_security="starttls", smtp_username="invites", smtp_password="s3cret"
            )
        )
        assert good is not None
        mailer = quick(Mailer(good, TEAM))
        async with running_mailer(bus, mailer):
            await bus.publish(booking(slot("jordan-lee", TUESDAY_9)))
            await inbox.wait_for(2)
        wrong = dataclasses.replace(good, password="guess", timeout_seconds=5.0)
        message = inbox.received[0].message
        with pytest.raises(MailError, match="refused SMTP_USERNAME=invites"):
            await send(wrong, message)
        plain = dataclasses.replace(good, security="none", timeout_seconds=5.0)
        with pytest.raises(MailError, match="must offer AUTH"):
            await send(plain, message)  # no STARTTLS, so it offers no login
        anonymous = dataclasses.replace(plain, username="")
        with pytest.raises(MailError, match=r"SMTP_HOST=127\.0\.0\.1.*SMTP_SECURITY") as no_tls:
            await send(anonymous, message)  # this server wants STARTTLS first
        assert "530" in str(no_tls.value)
    assert sorted(r.to for r in inbox.received) == [REP, LEAD]


async def test_an_unreachable_server_is_named():
    server = SmtpServer(host="127.0.0.1", port=closed_port(), security="none", sender="a@b.c")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@b.c", REP, "never sent"
    with pytest.raises(MailError) as refused:
        await send(server, message)
    assert f"cannot reach the mail server at SMTP_HOST=127.0.0.1 SMTP_PORT={server.port}" in str(
        refused.value
    )


def test_without_smtp_from_every_rep_needs_an_email():
    team = team_from(
        TeamFile(
            reps=[
                RepEntry(id="ana", name="Ana", email="ana@example.com", time_zone="UTC"),
                RepEntry(id="bo", name="Bo", time_zone="UTC"),
            ]
        )
    )
    with pytest.raises(SettingsError, match=r"SMTP_FROM.*'bo'"):
        mailer_from_settings(settings(25, smtp_from=""), team)
    assert mailer_from_settings(settings(25), team) is not None

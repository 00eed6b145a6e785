"""A booking's invite as an email, and sending it through the configured SMTP server.

Each side gets its own message: an iMIP message (RFC 6047) whose text/calendar part a mail
client offers to add to the calendar, beside a plain-text part giving the time in the
recipient's own zone (the lead's zone for the lead, the rep's for the rep). Sending uses
the standard library's smtplib in a worker thread, so the event loop that carries live
calls never waits on a mail server.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.events import MeetingBooked, MeetingCanceled
from libs.runtime.settings import SettingsError
from services.conversation.calendar.ical import cancellation, invite
from services.conversation.config import ConversationSettings

SmtpSecurity = Literal["starttls", "tls", "none"]
MailKind = Literal["invite", "cancellation"]
Role = Literal["rep", "lead"]

# 7bit: a body that is not plain ASCII (a name with an accent) goes quoted-printable or
# base64, so that any SMTP server takes it, 8BITMIME or not; CRLF line ends throughout.
MAIL_POLICY = policy.SMTP.clone(cte_type="7bit")
# Fixed forever: a message's Message-ID is derived from it, the same on every retry.
_MESSAGE_NAMESPACE = UUID("0f3b9e64-2c1a-4d7e-8a55-6b1f0c9d2e47")


@dataclass(frozen=True)
class SmtpServer:
    """Where invites are sent from: SMTP_HOST and the settings beside it."""

    host: str
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""  # SMTP_FROM; empty: each meeting's rep sends their own invites
    timeout_seconds: float = 20.0  # each connect and each reply, at most

    @classmethod
    def from_settings(cls, settings: ConversationSettings) -> SmtpServer | None:
        """The server SMTP_HOST names; None when it is unset (invites are not mailed)."""
        if not settings.smtp_host:
            return None
        if not 0 < settings.smtp_port < 65536:
            raise SettingsError(f"SMTP_PORT={settings.smtp_port}: not a port number")
        if settings.smtp_username and not settings.smtp_password:
            raise SettingsError("SMTP_USERNAME is set without SMTP_PASSWORD: set both, or neither")
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
        )

    @property
    def address(self) -> str:
        return f"SMTP_HOST={self.host} SMTP_PORT={self.port}"


class MailError(RuntimeError):
    """A message was not sent; the text names the setting at fault and the server's reply.

    `permanent`: the server refused this very message for good (a 5xx reply to its
    recipient or its content), so sending it again would be refused again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Recipient:
    role: Role
    address: str
    name: str
    zone: ZoneInfo


def recipients(booking: MeetingBooked, rep_zone: ZoneInfo | None) -> list[Recipient]:
    """Who a booking's mail goes to: the rep, and the lead when an email is known."""
    lead_zone = zone_of(booking.lead_zone)
    found: list[Recipient] = []
    if booking.rep_email:
        found.append(Recipient("rep", booking.rep_email, booking.rep_name, rep_zone or lead_zone))
    if booking.contact_email:
        name = booking.contact_name or booking.business_name
        found.append(Recipient("lead", booking.contact_email, name, lead_zone))
    return found


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def meeting_message(
    booking: MeetingBooked,
    recipient: Recipient,
    *,
    sender: str,
    kind: MailKind,
    written_at: datetime,
    canceled: MeetingCanceled | None = None,
    message_key: UUID | None = None,
) -> EmailMessage:
    """One side's message about a booking: its invite (REQUEST) or its cancellation (CANCEL).

    The Message-ID comes from `message_key` (the event's id) and the role, so a retried
    send is recognisable as the same message."""
    method = "REQUEST" if kind == "invite" else "CANCEL"
    calendar = invite(booking) if kind == "invite" else cancellation(booking, canceled)
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = _subject(booking, recipient, kind)
    message["From"] = formataddr(
        (booking.rep_name, sender) if sender == booking.rep_email else ("", sender)
    )
    message["To"] = formataddr((recipient.name, recipient.address))
    if booking.rep_email and sender != booking.rep_email:
        message["Reply-To"] = formataddr((booking.rep_name, booking.rep_email))
    message["Date"] = format_datetime(written_at)
    key = message_key or booking.event_id
    domain = sender.rpartition("@")[2] or "sales-agent"
    message["Message-ID"] = f"<{uuid5(_MESSAGE_NAMESPACE, f'{key}/{recipient.role}')}@{domain}>"
    message.set_content(_text(booking, recipient, kind))
    message.add_alternative(calendar.decode("utf-8"), subtype="calendar", params={"method": method})
    return message


async def send(server: SmtpServer, message: EmailMessage) -> None:
    """Send one message; raises MailError naming what to check."""
    await asyncio.to_thread(_send, server, message)


def _send(server: SmtpServer, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    try:
        if server.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot reach the mail server at {server.address}: {_why(exc)}") from exc
    try:
        if server.security == "starttls":
            client.starttls(context=context)
        if server.username:
            client.login(server.username, server.password)
        client.send_message(message)
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(
            f"the mail server at {server.address} does not offer what was asked of it "
            f"({_why(exc)}): with SMTP_SECURITY=starttls it must offer STARTTLS (use "
            "SMTP_SECURITY=tls for a server that speaks TLS from the start, usually port 465); "
            "with SMTP_USERNAME set it must offer AUTH"
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"the mail server at {server.address} refused SMTP_USERNAME={server.username} with "
            f"that SMTP_PASSWORD: {_why(exc)}"
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        # Not for good: a server refuses the sender until it is set up right (SMTP_FROM,
        # TLS or a login first), and a restart with the right settings takes the retry on.
        raise MailError(
            f"the mail server at {server.address} refused mail from {exc.sender}: {_why(exc)} "
            "(check that SMTP_FROM is an address this account may send as, and whether the "
            "server wants TLS or a login first: SMTP_SECURITY, SMTP_USERNAME)"
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise MailError(
            f"the mail server at {server.address} refused the recipient: {_why(exc)}",
            permanent=bool(codes) and all(code >= 500 for code in codes),
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(
            f"the mail server at {server.address} refused the message: {_why(exc)}",
            permanent=exc.smtp_code >= 500,
        ) from exc
    except ssl.SSLError as exc:
        raise MailError(
            f"TLS with the mail server at {server.address} failed "
            f"(SMTP_SECURITY={server.security}): {_why(exc)}"
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"lost the mail server at {server.address}: {_why(exc)}") from exc
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
        client.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [_reply(code, text) for code, text in exc.recipients.values()]
        return "; ".join(replies) or "refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return str(exc) or type(exc).__name__


def _reply(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {said}".strip()


# The words ------------------------------------------------------------------------------


def _subject(booking: MeetingBooked, recipient: Recipient, kind: MailKind) -> str:
    other = booking.rep_name if recipient.role == "lead" else _lead_name(booking)
    when = booking.starts_at.astimezone(recipient.zone)
    at = f"{when:%a} {when.day} {when:%b}, {when:%H:%M} {when:%Z}"
    if kind == "cancellation":
        return f"Canceled: demo call with {other}, {at}"
    if booking.revision:
        return f"Moved: demo call with {other}, now {at}"
    return f"Demo call with {other}, {at}"


def _text(booking: MeetingBooked, recipient: Recipient, kind: MailKind) -> str:
    when = _when(booking, recipient.zone)
    done = "canceled" if kind == "cancellation" else "moved" if booking.revision else "booked"
    lines: list[str | None]
    if recipient.role == "lead":
        rep = booking.rep_name + (f" ({booking.rep_email})" if booking.rep_email else "")
        reach = booking.contact_number if kind == "invite" else ""
        lines = [
            f"Hello {booking.contact_name}," if booking.contact_name else "Hello,",
            "",
            f"Your demo call with {rep} is {done}:",
            f"  {when}",
            f"{booking.rep_name} will reach you on {reach}." if reach else None,
        ]
    else:
        business = f" of {booking.business_name}" if booking.business_name else ""
        lines = [
            f"{done.capitalize()}: demo call with {_lead_name(booking)}{business}",
            f"  {when}",
            "",
            f"Phone: {booking.contact_number}" if booking.contact_number else None,
            f"Email: {booking.contact_email}" if booking.contact_email else None,
            f"Their time zone: {booking.lead_zone}",
            "Booked on a call" if booking.call_id else "Booked through the API",
        ]
    if kind == "invite":
        lines += ["", "The calendar invitation is attached."]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _when(booking: MeetingBooked, zone: ZoneInfo) -> str:
    start, end = booking.starts_at.astimezone(zone), booking.ends_at.astimezone(zone)
    day = f"{start:%A} {start.day} {start:%B} {start:%Y}"
    return f"{day}, {start:%H:%M}-{end:%H:%M} {start:%Z} ({zone.key})"


def _lead_name(booking: MeetingBooked) -> str:
    return booking.contact_name or booking.business_name or booking.contact_number or "the lead"

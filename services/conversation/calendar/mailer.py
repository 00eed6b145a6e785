"""Each booking's invite, mailed once to both sides when an SMTP server is configured.

A durable consumer of the bookings: a MeetingBooked mails its invite (an iTIP REQUEST) to
the rep and, when an email is known, to the lead; a MeetingCanceled with reason canceled
mails the cancellation. A move needs no mail of its own: the new revision's REQUEST carries
the same UID with a higher SEQUENCE, which updates the event a calendar holds. Nothing is
mailed for a booking that does not hold by the time it would be: one the external calendar
refused (calendar-failed) never existed for anyone, and one already canceled or moved has
its own mail coming.

A booking written to an external calendar may still be refused there for a few seconds
after it is stored; such a booking is mailed only once it is older than the settle time,
counted on the stream's clock. A mail server that fails is tried again with a backoff;
each recipient is mailed once per process (and every retry carries the same Message-ID).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from loguru import logger

from libs.bus import ConsumerSettings, Delivery, DurableConsumer, EventBus, RetryLater
from libs.events import AnyEvent, MeetingBooked, MeetingCanceled, subject_filter, subject_for
from libs.runtime.settings import SettingsError
from services.conversation.calendar.mail import (
    MailError,
    MailKind,
    Recipient,
    SmtpServer,
    meeting_message,
    recipients,
    send,
)
from services.conversation.calendar.team import SETTING as TEAM_SETTING
from services.conversation.calendar.team import Team
from services.conversation.config import ConversationSettings

CONSUMER = ConsumerSettings(
    durable="meeting-mail",
    subjects=(subject_filter(MeetingBooked), subject_filter(MeetingCanceled)),
    # A wait for the settle time or for the mail server is a delivery too: room for a
    # mail server that is away for nearly three hours (MAIL_RETRY_SECONDS).
    max_deliveries=16,
    retry_delays=(2.0, 10.0, 30.0),  # a failed read of the stream
    batch_size=16,
    # One event's mail is two messages, each bounded by the SMTP timeout: it is never
    # handed out again while they are still being sent.
    ack_wait=120.0,
)
SETTLE_SECONDS = 15.0  # an external calendar's refusal comes within this of the booking
# Between tries of a mail server that failed, by delivery: then the last, until it gives up.
MAIL_RETRY_SECONDS = (5.0, 30.0, 120.0, 300.0, 900.0)
_SENT_KEPT = 4096  # the messages this process remembers sending, so a retry skips them


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Mailer:
    def __init__(
        self,
        server: SmtpServer,
        team: Team,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        retry_seconds: tuple[float, ...] = MAIL_RETRY_SECONDS,
        consumer: ConsumerSettings = CONSUMER,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.server, self.team = server, team
        self.settle_seconds = settle_seconds
        self.retry_seconds = retry_seconds
        self.consumer = consumer
        self.clock = clock  # the Date of each message; the settle time uses the wall clock
        self._sent: OrderedDict[str, None] = OrderedDict()

    async def handle(self, bus: EventBus, event: AnyEvent, delivery: Delivery) -> None:
        if isinstance(event, MeetingBooked):
            with logger.contextualize(meeting_id=str(event.meeting_id)):
                await self.booked(bus, event, delivery)
        elif isinstance(event, MeetingCanceled):
            with logger.contextualize(meeting_id=str(event.meeting_id)):
                await self.canceled(bus, event, delivery)

    async def booked(self, bus: EventBus, booking: MeetingBooked, delivery: Delivery) -> None:
        ended = await ending_of(bus, booking)
        if ended is not None:
            logger.info(
                "Invite not mailed: revision {revision} was {reason} before it was sent",
                revision=booking.revision,
                reason=_said(ended),
            )
            return
        if booking.calendar != "embedded":
            # From when the stream stored it, by the wall clock: the same for every replica.
            stored_at = delivery.stored_at or _wall_clock()
            remaining = self.settle_seconds - (_wall_clock() - stored_at).total_seconds()
            if remaining > 0:
                raise RetryLater(remaining, f"the {booking.calendar} calendar may refuse it yet")
        await self._mail(booking, "invite", delivery, key=str(booking.event_id))

    async def canceled(self, bus: EventBus, canceled: MeetingCanceled, delivery: Delivery) -> None:
        if canceled.reason != "canceled":
            # Moved: the new revision's invite updates it. Refused by the calendar: it was
            # never mailed.
            return
        booking = await booking_of(bus, canceled)
        if booking is None:
            logger.warning(
                "Cancellation not mailed: no booking revision {revision} on the stream",
                revision=canceled.revision,
            )
            return
        await self._mail(
            booking, "cancellation", delivery, key=str(canceled.event_id), canceled=canceled
        )

    async def _mail(
        self,
        booking: MeetingBooked,
        kind: MailKind,
        delivery: Delivery,
        *,
        key: str,
        canceled: MeetingCanceled | None = None,
    ) -> None:
        sender = self.server.sender or booking.rep_email
        rep = self.team.rep(booking.rep_id)
        rep_zone: ZoneInfo | None = rep.zone if rep is not None else None
        for recipient in recipients(booking, rep_zone):
            sent_key = f"{key}/{recipient.role}"
            if sent_key in self._sent:
                continue  # sent on an earlier delivery of this event
            if not sender:
                logger.warning(
                    "No {kind} mailed to the {role}: no sender (set SMTP_FROM, or the rep's "
                    "email in {setting})",
                    kind=kind,
                    role=recipient.role,
                    setting=TEAM_SETTING,
                )
                return
            await self._send_one(booking, recipient, kind, delivery, sender, key, canceled)
            self._remember(sent_key)

    async def _send_one(
        self,
        booking: MeetingBooked,
        recipient: Recipient,
        kind: MailKind,
        delivery: Delivery,
        sender: str,
        key: str,
        canceled: MeetingCanceled | None,
    ) -> None:
        message = meeting_message(
            booking,
            recipient,
            sender=sender,
            kind=kind,
            written_at=self.clock(),
            canceled=canceled,
            message_key=key,
        )
        try:
            await send(self.server, message)
        except MailError as exc:
            if exc.permanent:
                logger.error(
                    "The {kind} for the {role} was refused for good, not sent: {error}",
                    kind=kind,
                    role=recipient.role,
                    error=str(exc),
                )
                return
            attempt = delivery.delivery_count
            if attempt >= self.consumer.max_deliveries:
                logger.error(
                    "Gave up on the {kind} for the {role} after {attempts} tries: {error}",
                    kind=kind,
                    role=recipient.role,
                    attempts=attempt,
                    error=str(exc),
                )
                return
            delay = self.retry_seconds[min(attempt, len(self.retry_seconds)) - 1]
            logger.warning(
                "The {kind} for the {role} was not sent (try {attempt}); again in {delay}s: "
                "{error}",
                kind=kind,
                role=recipient.role,
                attempt=attempt,
                delay=delay,
                error=str(exc),
            )
            raise RetryLater(delay, str(exc)) from None
        logger.info(
            "Mailed the {kind} of revision {revision} to the {role}",
            kind=kind,
            revision=booking.revision,
            role=recipient.role,
        )

    def _remember(self, sent_key: str) -> None:
        self._sent[sent_key] = None
        while len(self._sent) > _SENT_KEPT:
            self._sent.popitem(last=False)


def _said(canceled: MeetingCanceled) -> str:
    return {
        "canceled": "canceled",
        "rescheduled": "moved",
        "calendar-failed": "refused by the calendar",
    }[canceled.reason]


def _same_booking(canceled: object, booking: MeetingBooked) -> bool:
    return (
        isinstance(canceled, MeetingCanceled)
        and canceled.meeting_id == booking.meeting_id
        and canceled.revision == booking.revision
    )


async def ending_of(bus: EventBus, booking: MeetingBooked) -> MeetingCanceled | None:
    """The cancel that ended this booking, if one is stored: the slot's latest, usually. If
    the latest is another booking's and the slot has been booked again since, this one's
    came before it, somewhere in the slot's history."""
    subject = subject_for(MeetingCanceled, booking.slot_id)
    latest = await bus.last_event(subject)
    if latest is None:
        return None
    if _same_booking(latest, booking):
        assert isinstance(latest, MeetingCanceled)
        return latest
    holder = await bus.last_event(subject_for(MeetingBooked, booking.slot_id))
    if isinstance(holder, MeetingBooked) and holder.event_id == booking.event_id:
        return None  # it still holds the slot: the latest cancel there ended an older one
    for event in reversed(await bus.events_so_far(subject)):
        if _same_booking(event, booking):
            assert isinstance(event, MeetingCanceled)
            return event
    return None


async def booking_of(bus: EventBus, canceled: MeetingCanceled) -> MeetingBooked | None:
    """The booking a cancel ended: the slot's latest, unless the slot was booked again."""
    subject = subject_for(MeetingBooked, canceled.slot_id)
    latest = await bus.last_event(subject)
    if isinstance(latest, MeetingBooked) and _same_booking(canceled, latest):
        return latest
    for event in reversed(await bus.events_so_far(subject)):
        if isinstance(event, MeetingBooked) and _same_booking(canceled, event):
            return event
    return None


def mailer_from_settings(settings: ConversationSettings, team: Team) -> Mailer | None:
    """The mailer SMTP_HOST and its settings describe; None when SMTP_HOST is unset."""
    server = SmtpServer.from_settings(settings)
    if server is None:
        return None
    if not server.sender:
        without = [rep.id for rep in team.reps if not rep.email]
        if without:
            raise SettingsError(
                f"SMTP_HOST is set but SMTP_FROM is not, and rep {without[0]!r} in "
                f"{TEAM_SETTING} has no email to send their invites from: set SMTP_FROM, or "
                "give every rep an email"
            )
    if server.username and server.security == "none":
        logger.warning(
            "SMTP_SECURITY=none with SMTP_USERNAME set: the password crosses the network "
            "unencrypted"
        )
    # The desk cancels a booking the calendar refused as soon as the write fails, and a
    # write waits at most CALDAV_TIMEOUT_SECONDS: settle for longer than that.
    settle = max(SETTLE_SECONDS, settings.caldav_timeout_seconds + 5.0)
    return Mailer(server, team, settle_seconds=settle)


@asynccontextmanager
async def running_mailer(bus: EventBus, mailer: Mailer | None) -> AsyncIterator[Mailer | None]:
    """Mail invites while inside; with no mailer (SMTP_HOST unset), nothing runs."""
    if mailer is None:
        logger.info("Invites are not mailed: SMTP_HOST is unset")
        yield None
        return

    async def handle(event: AnyEvent, delivery: Delivery) -> None:
        await mailer.handle(bus, event, delivery)

    logger.info(
        "Mailing invites through {server} ({security})",
        server=mailer.server.address,
        security=mailer.server.security,
    )
    async with DurableConsumer(bus, mailer.consumer, handle).running():
        yield mailer

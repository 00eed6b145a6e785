"""Who may do what on the bus: the one table each service's NATS permissions come from.

A row says which events a service writes, which it reads and how (durable consumers,
short-lived consumers, direct gets of the latest fact), and whether it looks after the
stream itself. `libs.bus.permissions` turns the rows into nats-server users; the tests
check the rows against the subjects the services' consumers really read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from libs.events.model import (
    EVENT_TYPES,
    AnswerClassified,
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
    CampaignEvent,
    Event,
    LeadImported,
    LeadOptedOut,
    MediaStreamStarted,
    MeetingBooked,
    MeetingCanceled,
    OutcomeRecorded,
    TranscriptFinalized,
    TurnRecorded,
)

CAMPAIGN_EVENTS = frozenset(t for t in EVENT_TYPES if issubclass(t, CampaignEvent))
CALL_LIFECYCLE = frozenset({CallPlaced, CallAnswered, CallFailed, CallCompleted})

# How a service's short-lived consumers filter: "one-event" consumers each read one event
# type, and the filter is then part of the API subject, so a permission can pin it;
# "several-events" consumers carry their filters in the request body, where permissions
# cannot look, so such a service can read any event.
Ephemeral = Literal["none", "one-event", "several-events"]


@dataclass(frozen=True, slots=True)
class ServiceAccess:
    publishes: frozenset[type[Event]]
    consumes: frozenset[type[Event]] = frozenset()
    looks_up: frozenset[type[Event]] = frozenset()  # the latest fact on a subject
    # Heard live, by a plain NATS subscription to the events' subjects, as they are stored.
    listens_to: frozenset[type[Event]] = frozenset()
    durables: tuple[str, ...] = ()
    ephemeral: Ephemeral = "none"
    manages_stream: bool = False  # creates the stream and keeps its settings

    def __post_init__(self) -> None:
        if self.ephemeral == "one-event" and not self.consumes:
            raise ValueError("one-event consumers need the events they read in `consumes`")


SERVICE_ACCESS: dict[str, ServiceAccess] = {
    "ingest": ServiceAccess(
        publishes=frozenset({LeadImported}),
        # The registry of known leads, read again for every import.
        consumes=frozenset({LeadImported}),
        ephemeral="one-event",
    ),
    "scheduler": ServiceAccess(
        # A do-not-call upload records opt-outs; a call with no final status times out.
        publishes=CAMPAIGN_EVENTS | {CallRequested, CallFailed, LeadOptedOut},
        consumes=CAMPAIGN_EVENTS
        | CALL_LIFECYCLE
        | {LeadImported, LeadOptedOut, CallRequested, OutcomeRecorded},
        durables=("scheduler",),
        # The single active dispatcher, and the service a deployment cannot run without.
        manages_stream=True,
    ),
    "telephony": ServiceAccess(
        # A dial is claimed before the carrier is asked; AMD's verdict is its own fact.
        publishes=CALL_LIFECYCLE | {CallDialing, AnswerClassified, CallRecorded},
        consumes=CAMPAIGN_EVENTS | CALL_LIFECYCLE | {CallRequested, LeadOptedOut},
        looks_up=CALL_LIFECYCLE | {CallRequested, CallDialing},
        durables=("telephony",),
        # The calling rules' facts, and a stopped campaign's live calls.
        ephemeral="several-events",
    ),
    "conversation": ServiceAccess(
        publishes=frozenset(
            {
                MediaStreamStarted,
                CallAnswered,
                LeadOptedOut,
                TurnRecorded,
                TranscriptFinalized,
                OutcomeRecorded,
                # The calendar: a slot is booked by compare-and-set on its own subject.
                MeetingBooked,
                MeetingCanceled,
            }
        ),
        # The sweeper: a call that ended with no transcript closed gets a fallback one,
        # from the turns recorded so far. The calendar follows every booking; the mailer
        # sends each booking's invite once.
        consumes=frozenset({CallCompleted, TurnRecorded, MeetingBooked, MeetingCanceled}),
        looks_up=frozenset(
            {
                CallRequested,
                CallAnswered,
                AnswerClassified,
                TranscriptFinalized,
                OutcomeRecorded,
                MeetingBooked,
                MeetingCanceled,
            }
        ),
        durables=("conversation", "meeting-mail"),
        ephemeral="one-event",
        # A machine detected after the stream opened turns the pitch into a voicemail.
        listens_to=frozenset({AnswerClassified}),
    ),
    "analytics": ServiceAccess(
        publishes=frozenset(),
        consumes=frozenset(EVENT_TYPES),
        durables=("analytics",),
        # Rebuilds and the Calls API read stretches of the whole stream.
        ephemeral="several-events",
    ),
}


def durable_owners() -> dict[str, str]:
    """Every durable consumer's name, and the service it belongs to."""
    owners: dict[str, str] = {}
    for service, access in SERVICE_ACCESS.items():
        for durable in access.durables:
            if durable in owners:
                raise ValueError(f"{service} and {owners[durable]} both claim {durable!r}")
            owners[durable] = service
    return owners


def writers_of(event_type: type[Event]) -> list[str]:
    """The services allowed to publish an event type."""
    return [name for name, access in SERVICE_ACCESS.items() if event_type in access.publishes]


def stream_manager_allowed(user: str | None) -> bool:
    """Whether a process connecting as `user` may create the stream and keep its settings.

    No user: a server without authorization, where anyone may. An unknown user is an
    operator's own: let it try, the server decides."""
    access = SERVICE_ACCESS.get(user) if user is not None else None
    return access is None or access.manages_stream


def stream_managers() -> list[str]:
    return [name for name, access in SERVICE_ACCESS.items() if access.manages_stream]

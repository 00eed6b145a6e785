"""The event contract: every fact the system records, as frozen, tagged msgspec structs.

Rules (see docs on schema evolution in msgspec): events only grow. A new field needs a
default; a field is never renamed, retyped or given a new meaning; unknown fields are
ignored on decode so that old consumers keep working when producers move ahead.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import ClassVar, Literal
from uuid import UUID

import msgspec

SCHEMA_VERSION = 1

InterestLevel = Literal["high", "medium", "low"]
CompanySize = Literal["small", "medium", "large", "unknown"]
AnsweredBy = Literal["human", "machine", "fax", "unknown"]
# Who answered that is no person to talk with: the carrier's verdict of one wins over any
# other answer, whichever came first (every fold reads it so).
NOT_A_PERSON: frozenset[AnsweredBy] = frozenset({"machine", "fax"})
CallFailureReason = Literal[
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "timeout",
    "machine",
    "invalid-number",
    "rejected",
    # Claimed for dialling, but the carrier never took the call (telephony died first, or
    # its create never landed): nothing rang, so it is not an attempt.
    "not-dialled",
    # Placed, then lost by the carrier without a final status (the simulated carrier dies
    # with its telephony process): nobody knows how it went, so it is retried.
    "dropped",
    # Answered, but the agent was lost (the conversation process died) and no transcript
    # was closed: recorded by the sweeper on a fallback outcome, and retried.
    "agent-lost",
]
OptOutSource = Literal["call", "do-not-call-list", "api"]
# The compliance rule that kept a call from being made (libs/compliance).
ComplianceRule = Literal[
    "calling_window",
    "do_not_call",
    "opted_out",
    "campaign_paused",
    "campaign_stopped",
    "frequency_cap",
    "holiday",
    "expired",
]
SystemMode = Literal["simulation", "live"]
TurnRole = Literal["agent", "prospect"]


class TimeWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A window of local wall-clock time, e.g. 09:00-11:00 in the lead's own zone."""

    start: time
    end: time


class LeadProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What the system knows about a lead: carried by LeadImported and CallRequested."""

    phone_number: str  # E.164
    business_name: str
    contact_name: str
    business_type: str  # one of the known types, or "Other"
    company_size: CompanySize
    current_challenges: str = ""
    best_call_time: str = ""  # as the sales team wrote it
    best_call_window: TimeWindow | None = None  # parsed from best_call_time, when it could be
    time_zones: tuple[str, ...] = ()  # IANA zones the number maps to; empty: unknown
    business_type_original: str = ""  # the uploaded text, when it was mapped or unknown
    company_size_original: str = ""  # the uploaded text ("12 employees"), when it was mapped
    # The weekdays (Monday 0) best_call_time names, e.g. "Tue/Thu 2-4pm"; empty: any day.
    best_call_days: tuple[int, ...] = ()
    attributes: dict[str, str] = msgspec.field(default_factory=dict)  # extra CSV columns


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    role: TurnRole
    text: str
    started_at: datetime
    ended_at: datetime
    response_latency_seconds: float | None = None  # agent turns: prospect stop -> agent audio


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    """A fact in the past tense. The tag is the class name."""

    subject_verb: ClassVar[str]

    event_id: UUID  # also the Nats-Msg-Id header, so JetStream drops duplicates
    occurred_at: datetime  # UTC
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.occurred_at.utcoffset() != timedelta(0):
            raise ValueError(f"occurred_at must be in UTC, got {self.occurred_at.isoformat()}")

    @property
    def subject(self) -> str:
        raise NotImplementedError


class SystemEvent(Event, frozen=True, kw_only=True):
    """A fact about the deployment itself, not about a lead, campaign or call."""

    @property
    def subject(self) -> str:
        return f"sales.system.{self.subject_verb}"


class LeadEvent(Event, frozen=True, kw_only=True):
    lead_id: UUID

    @property
    def subject(self) -> str:
        return f"sales.lead.{self.lead_id}.{self.subject_verb}"


class CampaignEvent(Event, frozen=True, kw_only=True):
    campaign_id: UUID

    @property
    def subject(self) -> str:
        return f"sales.campaign.{self.campaign_id}.{self.subject_verb}"


class SlotEvent(Event, frozen=True, kw_only=True):
    """A fact about one bookable time of one rep: the slot's id is derived from the rep and
    the start (calendar's slot_id), so racing bookings of one time share one subject."""

    slot_id: UUID

    @property
    def subject(self) -> str:
        return f"sales.slot.{self.slot_id}.{self.subject_verb}"


class CallEvent(Event, frozen=True, kw_only=True):
    call_id: UUID
    lead_id: UUID
    campaign_id: UUID

    @property
    def subject(self) -> str:
        return f"sales.call.{self.call_id}.{self.subject_verb}"


class ModeRecorded(SystemEvent, frozen=True, kw_only=True):
    """The deployment's mode, written once by the first process to start: every later
    process must run in the same mode, so simulated decisions never reach a real phone."""

    subject_verb: ClassVar[str] = "mode"

    mode: SystemMode
    recorded_by: str  # the process that started first


class LeadImported(LeadEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "imported"

    lead: LeadProfile
    status: str = "pending"  # the CSV's status column
    source: str = ""  # the uploaded file's name


class LeadOptedOut(LeadEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "opted_out"

    phone_number: str  # E.164: do-not-call is by number, whatever lead it came from
    source: OptOutSource
    call_id: UUID | None = None
    campaign_id: UUID | None = None


class CampaignStarted(CampaignEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "started"

    name: str
    lead_ids: tuple[UUID, ...]
    max_concurrent_calls: int
    calling_hours: TimeWindow
    calling_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # ISO weekday - 1: Monday is 0
    filters: dict[str, str] = msgspec.field(default_factory=dict)
    lead_parts: int = 0  # CampaignLeadsAdded parts holding the rest of the selection


class CampaignLeadsAdded(CampaignEvent, frozen=True, kw_only=True):
    """More of a campaign's selected leads, for selections too big for one message.

    Published before the CampaignStarted that names `parts`, so a campaign is never seen
    started with only some of its leads.
    """

    subject_verb: ClassVar[str] = "leads_added"

    part: int  # 1, 2, ...
    lead_ids: tuple[UUID, ...]


class CampaignStopped(CampaignEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "stopped"

    reason: str
    hang_up_live_calls: bool = False


class CampaignPaused(CampaignEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "paused"

    reason: str
    automatic: bool = False  # paused by the failure brake rather than by a person


class CampaignResumed(CampaignEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "resumed"


class CampaignLeadsRequeued(CampaignEvent, frozen=True, kw_only=True):
    """Leads whose attempts ended get a fresh round of attempts in the same campaign."""

    subject_verb: ClassVar[str] = "requeued"

    lead_ids: tuple[UUID, ...]
    reason: str = ""


class CallsWithheld(CampaignEvent, frozen=True, kw_only=True):
    """Leads whose turn came but whom a compliance rule kept from being called then."""

    subject_verb: ClassVar[str] = "withheld"

    rule: ComplianceRule
    lead_ids: tuple[UUID, ...]
    detail: str = ""  # for the first lead: its local time and the rule's source
    retry_at: datetime | None = None  # when they are looked at again; None: never


class CampaignFinished(CampaignEvent, frozen=True, kw_only=True):
    """Every selected lead has a final result: nothing more will be dialled."""

    subject_verb: ClassVar[str] = "finished"

    summary: dict[str, int] = msgspec.field(default_factory=dict)  # leads by final status


class CallRequested(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "requested"

    attempt: int  # 1 for the first call to this lead in this campaign
    lead: LeadProfile
    time_limit_seconds: int = 300


class CallPlaced(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "placed"

    provider: str  # "twilio" or "simulated"
    provider_call_id: str
    requested_at: datetime | None = None  # the decision's time, which the rules count by


class CallAnswered(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "answered"

    answered_by: AnsweredBy = "unknown"


class CallDialing(CallEvent, frozen=True, kw_only=True):
    """Telephony claimed the attempt and is about to ask the carrier for the call. Stored
    only if the subject is empty, so of several replicas exactly one dials; one that finds
    the claim already made asks the carrier what became of it, and never dials again."""

    subject_verb: ClassVar[str] = "dialing"

    provider: str  # "twilio" or "simulated"
    claimed_by: str  # the telephony process that holds the claim: host and pid


class AnswerClassified(CallEvent, frozen=True, kw_only=True):
    """Who answered, as the carrier's answering machine detection says: a fact distinct
    from CallAnswered, which it may follow (Twilio reports AMD after the stream opens).
    Every fold reads "machine" over "human", whichever came first."""

    subject_verb: ClassVar[str] = "classified"

    answered_by: AnsweredBy
    detection_seconds: float | None = None  # how long the detection listened


class MediaStreamStarted(CallEvent, frozen=True, kw_only=True):
    """Conversation admitted the call's media stream: a call has one, so this is stored
    only if the subject is empty, and a second stream for the call (a replayed token, a
    second replica) is refused."""

    subject_verb: ClassVar[str] = "stream_started"

    stream_sid: str
    provider_call_id: str  # the carrier's CallSid the stream's token was issued for


class CallFailed(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "failed"

    reason: CallFailureReason
    detail: str = ""
    provider_error_code: int | None = None
    # Set when the call was not dialled because a rule forbade it at dial time (reason
    # "canceled"): it is not an attempt, and the lead is asked again in its next window.
    rule: ComplianceRule | None = None


class CallCompleted(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "completed"

    duration_seconds: float


class CallRecorded(CallEvent, frozen=True, kw_only=True):
    """The call's recording is stored (RECORD_CALLS): both sides, one channel each."""

    subject_verb: ClassVar[str] = "recorded"

    recording_url: str  # Twilio's media URL, or a file under DATA_DIR in simulation
    duration_seconds: float | None = None
    channels: int = 2


class TurnRecorded(CallEvent, frozen=True, kw_only=True):
    """One final turn of a live call, published as it happens: a crash keeps the
    transcript so far. TranscriptFinalized closes the call's transcript."""

    subject_verb: ClassVar[str] = "turn"

    index: int  # 0, 1, ... in the call's order
    turn: Turn


class TranscriptFinalized(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "transcript"

    turns: tuple[Turn, ...]
    duration_seconds: float
    ended_by: str  # goodbye, opt-out, prospect-hung-up, timeout, error, voicemail


class OutcomeRecorded(CallEvent, frozen=True, kw_only=True):
    subject_verb: ClassVar[str] = "outcome"

    conversation_summary: str
    interest_level: InterestLevel
    scheduled_meeting: bool = False
    meeting_time: datetime | None = None
    next_steps: str = ""
    notes: str = ""
    source: Literal["tool", "summary", "fallback"] = "tool"
    # Who wrote conversation_summary: the model from the transcript, or the labelled
    # template used only when the model failed. None: recorded before this was kept.
    summary_written_by: Literal["model", "template"] | None = None
    # The prospect asked to be called back then (UTC): a callback, not a retry.
    callback_at: datetime | None = None
    # Set only on a fallback outcome for a call that failed after it was answered (the
    # agent was lost): the call counts as failed for that reason, and is retried.
    failure: CallFailureReason | None = None
    # The booking (MeetingBooked.meeting_id) behind scheduled_meeting; None: no booking.
    meeting_id: UUID | None = None


class MeetingBooked(SlotEvent, frozen=True, kw_only=True):
    """A meeting reserved in a rep's slot: stored only if the slot's subject holds nothing
    yet, or only a booking canceled since, so two calls can never book one time."""

    subject_verb: ClassVar[str] = "booked"

    meeting_id: UUID  # stays the same when the meeting is moved to another slot
    rep_id: str
    rep_name: str
    rep_email: str = ""
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    lead_zone: str = "UTC"  # the IANA zone the time was spoken in to the lead
    calendar: str = "embedded"  # where the booking also lives: embedded or caldav
    lead_id: UUID | None = None
    call_id: UUID | None = None  # None: booked through the API
    campaign_id: UUID | None = None
    business_name: str = ""
    contact_name: str = ""
    contact_number: str = ""  # E.164
    contact_email: str = ""
    # The iCalendar SEQUENCE: 0 when first booked, one more each time it is moved.
    revision: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("starts_at", "ends_at"):
            if getattr(self, name).utcoffset() != timedelta(0):
                raise ValueError(f"{name} must be in UTC")
        if self.ends_at <= self.starts_at:
            raise ValueError("a meeting must end after it starts")


MeetingCancelReason = Literal["canceled", "rescheduled", "calendar-failed"]


class MeetingCanceled(SlotEvent, frozen=True, kw_only=True):
    """The booking in a slot is off (the slot is free again): canceled through the API,
    moved to another slot, or not written to the external calendar, so never half-made."""

    subject_verb: ClassVar[str] = "canceled"

    meeting_id: UUID
    revision: int = 0  # of the booking it cancels: a meeting may come back to a slot later
    reason: MeetingCancelReason = "canceled"
    detail: str = ""


AnyEvent = (
    ModeRecorded
    | LeadImported
    | LeadOptedOut
    | CampaignStarted
    | CampaignLeadsAdded
    | CampaignStopped
    | CampaignPaused
    | CampaignResumed
    | CampaignLeadsRequeued
    | CallsWithheld
    | CampaignFinished
    | CallRequested
    | CallPlaced
    | CallDialing
    | CallAnswered
    | AnswerClassified
    | MediaStreamStarted
    | CallFailed
    | CallCompleted
    | CallRecorded
    | TurnRecorded
    | TranscriptFinalized
    | OutcomeRecorded
    | MeetingBooked
    | MeetingCanceled
)

EVENT_TYPES: tuple[type[Event], ...] = (
    ModeRecorded,
    LeadImported,
    LeadOptedOut,
    CampaignStarted,
    CampaignLeadsAdded,
    CampaignStopped,
    CampaignPaused,
    CampaignResumed,
    CampaignLeadsRequeued,
    CallsWithheld,
    CampaignFinished,
    CallRequested,
    CallPlaced,
    CallDialing,
    CallAnswered,
    AnswerClassified,
    MediaStreamStarted,
    CallFailed,
    CallCompleted,
    CallRecorded,
    TurnRecorded,
    TranscriptFinalized,
    OutcomeRecorded,
    MeetingBooked,
    MeetingCanceled,
)

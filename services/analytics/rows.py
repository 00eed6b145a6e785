"""The rows the projection writes, one struct per table (the tables derive from these)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgspec


def utc(moment: datetime) -> datetime:
    """In UTC. Tables hold naive UTC (DuckDB's TIMESTAMP, no time-zone extension needed):
    a UTC value reaches them as `...Z`, which DuckDB reads as that same wall time."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def naive_utc(moment: datetime) -> datetime:
    return utc(moment).replace(tzinfo=None)


class LeadRow(msgspec.Struct, kw_only=True):
    lead_id: UUID
    phone_number: str
    business_name: str
    contact_name: str
    business_type: str
    company_size: str
    current_challenges: str
    best_call_time: str
    business_type_original: str  # the uploaded text; empty when it was our category already
    company_size_original: str  # likewise; empty too for leads imported before it was kept
    imported_status: str | None  # the uploaded CSV's status column
    source: str | None
    imported_at: datetime | None  # None: known only from a call request


class CampaignRow(msgspec.Struct, kw_only=True):
    campaign_id: UUID
    name: str | None = None
    status: str | None = None  # running, paused, stopped, finished
    status_at: datetime | None = None  # when it took that status: a late copy cannot undo it
    started_at: datetime | None = None
    max_concurrent_calls: int | None = None
    paused_at: datetime | None = None
    pause_reason: str | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    finished_at: datetime | None = None


class CampaignLeadRow(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: UUID
    lead_id: UUID


class CallRow(msgspec.Struct, kw_only=True):
    call_id: UUID
    lead_id: UUID
    campaign_id: UUID
    attempt: int | None = None
    requested_at: datetime | None = None
    time_limit_seconds: int | None = None
    provider: str | None = None
    provider_call_id: str | None = None
    placed_at: datetime | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    # The carrier's detection verdict (AnswerClassified), kept apart: a batch may hold
    # conversation's answer, the next the verdict, and a machine must win either way.
    classified_by: str | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None
    failure_detail: str | None = None
    provider_error_code: int | None = None
    refusal_rule: str | None = None  # a compliance rule stopped it before the carrier
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    recording_url: str | None = None


class TurnRow(msgspec.Struct, kw_only=True):
    role: str
    text: str
    started_at: datetime
    ended_at: datetime
    response_latency_seconds: float | None


class TranscriptRow(msgspec.Struct, kw_only=True):
    call_id: UUID
    lead_id: UUID
    campaign_id: UUID
    finalized_at: datetime
    duration_seconds: float
    ended_by: str
    turns: list[TurnRow]


class OutcomeRow(msgspec.Struct, kw_only=True):
    call_id: UUID
    lead_id: UUID
    campaign_id: UUID
    recorded_at: datetime
    conversation_summary: str
    interest_level: str
    scheduled_meeting: bool
    meeting_time: datetime | None
    next_steps: str
    notes: str
    source: str
    summary_written_by: str | None  # model or template; None: recorded before it was kept
    callback_at: datetime | None  # the prospect asked to be called back then
    # The booking behind scheduled_meeting (MeetingBooked.meeting_id); None: no booking,
    # whatever the model said.
    meeting_id: UUID | None = None


class OptOutRow(msgspec.Struct, kw_only=True):
    lead_id: UUID
    phone_number: str
    opted_out_at: datetime
    source: str
    call_id: UUID | None
    campaign_id: UUID | None


class WithheldRow(msgspec.Struct, frozen=True, kw_only=True):
    """A lead whose turn came but whom a compliance rule kept from a call then."""

    event_id: UUID
    lead_id: UUID
    campaign_id: UUID
    withheld_at: datetime
    rule: str


class BookingRow(msgspec.Struct, kw_only=True):
    """A meeting booked in one slot (MeetingBooked). A moved meeting keeps its id and has a
    row per slot it was ever in; its current booking is its highest revision."""

    meeting_id: UUID
    slot_id: UUID
    revision: int  # 0 when first booked, one more each time it is moved
    booked_at: datetime
    rep_id: str
    rep_name: str
    rep_email: str
    starts_at: datetime
    ends_at: datetime
    lead_zone: str  # the IANA zone the time was told to the lead in
    starts_local: str  # starts_at in lead_zone, ISO 8601 with its offset (UTC if unknown)
    calendar: str  # embedded or caldav
    lead_id: UUID | None
    call_id: UUID | None  # the call that booked it; None: booked through the API
    campaign_id: UUID | None
    business_name: str
    contact_name: str
    contact_number: str
    contact_email: str


class CancelRow(msgspec.Struct, kw_only=True):
    """The booking of a meeting in a slot is off (MeetingCanceled): canceled, moved to
    another slot (rescheduled), or never written to the external calendar."""

    meeting_id: UUID
    slot_id: UUID
    canceled_at: datetime
    reason: str  # canceled, rescheduled, calendar-failed
    detail: str

"""Pure projection logic: events folded into table rows, and the results file's cells.

A batch of events becomes at most one row per key and table, merged in stream order with
the same rule the database applies across batches, so that where a batch boundary falls
never changes the tables (incremental projection and a full rebuild agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import get_args
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from libs.events.model import (
    AnswerClassified,
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallEvent,
    CallFailed,
    CallPlaced,
    CallRecorded,
    CallRequested,
    CallsWithheld,
    CampaignFinished,
    CampaignLeadsAdded,
    CampaignLeadsRequeued,
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    CampaignStopped,
    ComplianceRule,
    LeadImported,
    LeadOptedOut,
    LeadProfile,
    MediaStreamStarted,
    MeetingBooked,
    MeetingCanceled,
    ModeRecorded,
    OutcomeRecorded,
    TranscriptFinalized,
    TurnRecorded,
)
from services.analytics.results_contract import ORIGINAL_COLUMNS
from services.analytics.rows import (
    BookingRow,
    CallRow,
    CampaignLeadRow,
    CampaignRow,
    CancelRow,
    LeadRow,
    OptOutRow,
    OutcomeRow,
    TranscriptRow,
    TurnRow,
    WithheldRow,
    utc,
)

# Ours come after the original system's columns: how often the lead was called, what
# exactly happened on its latest call (call_status keeps the original's three words), why a
# lead was not called, our categories beside the uploaded text, links to the call, and the
# meeting it has booked (its time where the lead is, and the rep who takes it).
EXTRA_COLUMNS = (
    "attempts",
    "call_result",
    "status_reason",
    "business_category",
    "size_category",
    "callback_at",
    "recording_url",
    "call_id",
    "meeting_time",
    "meeting_rep",
)
RESULT_COLUMNS = ORIGINAL_COLUMNS + EXTRA_COLUMNS

# What happened on a call, and the original system's call_status for it. The README's
# Results table is this mapping; a test keeps the two the same.
CALL_STATUS_OF_RESULT: dict[str, str] = {
    "answered": "answered",  # a person picked up and talked with the agent
    "opted-out": "answered",  # a person picked up and asked never to be called again
    # A person picked up, then the agent failed or was lost: failed, and retried.
    "agent-lost": "failed",
    "voicemail": "answered",  # a machine picked up; the agent left its message
    "fax": "failed",
    "busy": "failed",
    "invalid-number": "failed",
    "rejected": "failed",  # the carrier refused to place it
    "failed": "failed",
    "canceled": "failed",  # hung up by us before it was answered
    "dropped": "failed",  # placed, then lost by the carrier with no final status; retried
    "no-answer": "timeout",  # rang out
    "timeout": "timeout",  # no final word from the carrier within the call's limit
    "queued": "",  # still live: no result yet
    "ringing": "",
    # Claimed, but the carrier never took it (telephony died first): no call, no attempt.
    "not-dialled": "",
}
# A call the rules refused at the dial is `not-dialled:<rule>`: never dialled, so no status.
NOT_DIALLED = "not-dialled"
COMPLIANCE_RULES: tuple[str, ...] = get_args(ComplianceRule)

# Why a lead that opted out is excluded, by where its (first) opt-out came from.
OPT_OUT_REASONS: dict[str, str] = {
    "do-not-call-list": "on the do-not-call list",
    "call": "opted out on a call",
    "api": "opted out",
}
NOT_CALLED_REASON = "not called: "  # then the rule that kept the lead from every call so far


def not_dialled(rule: str) -> str:
    return f"{NOT_DIALLED}:{rule}"


def call_status_of(result: str) -> str:
    """The original system's call_status for a call_result ("" for none)."""
    return CALL_STATUS_OF_RESULT.get(result, "")


def known_call_results() -> tuple[str, ...]:
    """Every call_result a call can have, each not-dialled rule spelled out."""
    return (*CALL_STATUS_OF_RESULT, *(not_dialled(rule) for rule in COMPLIANCE_RULES))


def merge_campaign(older: CampaignRow, newer: CampaignRow) -> CampaignRow:
    """Later facts fill their columns; the status follows the latest change by time."""
    changes = {
        field: value
        for field in CampaignRow.__struct_fields__
        if field not in ("status", "status_at") and (value := getattr(newer, field)) is not None
    }
    if newer.status_at is not None and (
        older.status_at is None or older.status_at <= newer.status_at
    ):
        changes.update(status=newer.status, status_at=newer.status_at)
    return msgspec.structs.replace(older, **changes)


class ProjectionBatch:
    """The rows one batch of events produces, at most one per key and table."""

    def __init__(self) -> None:
        self.leads: dict[UUID, LeadRow] = {}
        self.profiles: dict[UUID, LeadRow] = {}  # leads seen only in a call request
        self.campaigns: dict[UUID, CampaignRow] = {}
        self.campaign_leads: dict[tuple[UUID, UUID], CampaignLeadRow] = {}
        self.calls: dict[UUID, CallRow] = {}
        self.transcripts: dict[UUID, TranscriptRow] = {}
        self.outcomes: dict[UUID, OutcomeRow] = {}
        self.opt_outs: dict[tuple[UUID, str], OptOutRow] = {}
        self.withheld: dict[tuple[UUID, UUID], WithheldRow] = {}
        self.bookings: dict[tuple[UUID, UUID], BookingRow] = {}  # (meeting, slot)
        self.cancels: dict[tuple[UUID, UUID], CancelRow] = {}

    def add(self, event: AnyEvent) -> None:
        match event:
            case LeadImported():
                self._add_lead(event)
            case LeadOptedOut():
                self._add_opt_out(event)
            case CampaignStarted():
                self._add_campaign_start(event)
            case CampaignLeadsAdded():  # the later parts of a big selection
                self._add_members(event.campaign_id, event.lead_ids)
            case (
                CampaignStopped()
                | CampaignPaused()
                | CampaignResumed()
                | CampaignLeadsRequeued()
                | CampaignFinished()
            ):
                self._add_campaign_change(event)
            case CallsWithheld():
                self._add_withheld(event)
            case CallRequested():
                self._add_call_request(event)
            case (
                CallPlaced()
                | CallAnswered()
                | AnswerClassified()
                | CallFailed()
                | CallCompleted()
                | CallRecorded()
            ):
                fill_call(self._call(event), event)
            case MediaStreamStarted() | CallDialing() | TurnRecorded():
                pass  # the audit trail's: no table counts it
            case MeetingBooked():
                self._add_booking(event)
            case MeetingCanceled():
                self._add_cancel(event)
            case TranscriptFinalized():
                self._add_transcript(event)
            case OutcomeRecorded():
                self._add_outcome(event)
            case ModeRecorded():
                pass  # about the deployment, not about leads or calls

    def _add_lead(self, event: LeadImported) -> None:
        row = lead_row(event.lead_id, event.lead, event.status, event.source, event.occurred_at)
        current = self.leads.get(event.lead_id)
        # A re-import replaces the lead, unless it is older than what we have (a late copy).
        if (
            current is None
            or current.imported_at is None
            or (row.imported_at is not None and current.imported_at <= row.imported_at)
        ):
            self.leads[event.lead_id] = row
        self.profiles.pop(event.lead_id, None)

    def _add_opt_out(self, event: LeadOptedOut) -> None:
        # Do-not-call is by number; the first opt-out is the one that counts.
        self.opt_outs.setdefault(
            (event.lead_id, event.phone_number),
            OptOutRow(
                lead_id=event.lead_id,
                phone_number=event.phone_number,
                opted_out_at=utc(event.occurred_at),
                source=event.source,
                call_id=event.call_id,
                campaign_id=event.campaign_id,
            ),
        )

    def _add_campaign_start(self, event: CampaignStarted) -> None:
        self._merge_campaign(
            CampaignRow(
                campaign_id=event.campaign_id,
                name=event.name,
                status="running",
                status_at=utc(event.occurred_at),
                started_at=utc(event.occurred_at),
                max_concurrent_calls=event.max_concurrent_calls,
            )
        )
        self._add_members(event.campaign_id, event.lead_ids)

    def _add_campaign_change(
        self,
        event: CampaignStopped
        | CampaignPaused
        | CampaignResumed
        | CampaignLeadsRequeued
        | CampaignFinished,
    ) -> None:
        at = utc(event.occurred_at)
        row = CampaignRow(campaign_id=event.campaign_id)
        match event:
            case CampaignStopped():
                row = CampaignRow(
                    campaign_id=event.campaign_id,
                    status="stopped",
                    status_at=at,
                    stopped_at=at,
                    stop_reason=event.reason,
                )
            case CampaignPaused():
                row = CampaignRow(
                    campaign_id=event.campaign_id,
                    status="paused",
                    status_at=at,
                    paused_at=at,
                    pause_reason=event.reason,
                )
            case CampaignResumed():
                row = CampaignRow(campaign_id=event.campaign_id, status="running", status_at=at)
            case CampaignFinished():
                row = CampaignRow(
                    campaign_id=event.campaign_id, status="finished", status_at=at, finished_at=at
                )
            case CampaignLeadsRequeued():
                self._add_members(event.campaign_id, event.lead_ids)
        self._merge_campaign(row)

    def _merge_campaign(self, row: CampaignRow) -> None:
        current = self.campaigns.get(row.campaign_id)
        self.campaigns[row.campaign_id] = row if current is None else merge_campaign(current, row)

    def _add_members(self, campaign_id: UUID, lead_ids: Iterable[UUID]) -> None:
        for lead_id in lead_ids:
            self.campaign_leads[(campaign_id, lead_id)] = CampaignLeadRow(
                campaign_id=campaign_id, lead_id=lead_id
            )

    def _add_withheld(self, event: CallsWithheld) -> None:
        at = utc(event.occurred_at)
        for lead_id in event.lead_ids:
            self.withheld[(event.event_id, lead_id)] = WithheldRow(
                event_id=event.event_id,
                lead_id=lead_id,
                campaign_id=event.campaign_id,
                withheld_at=at,
                rule=event.rule,
            )

    def _add_call_request(self, event: CallRequested) -> None:
        if event.lead_id not in self.leads:
            self.profiles.setdefault(
                event.lead_id, lead_row(event.lead_id, event.lead, None, None, None)
            )
        self._add_members(event.campaign_id, (event.lead_id,))
        fill_call(self._call(event), event)

    def _call(self, event: CallEvent) -> CallRow:
        row = self.calls.get(event.call_id)
        if row is None:
            row = CallRow(
                call_id=event.call_id, lead_id=event.lead_id, campaign_id=event.campaign_id
            )
            self.calls[event.call_id] = row
        return row

    def _add_transcript(self, event: TranscriptFinalized) -> None:
        row = TranscriptRow(
            call_id=event.call_id,
            lead_id=event.lead_id,
            campaign_id=event.campaign_id,
            finalized_at=utc(event.occurred_at),
            duration_seconds=event.duration_seconds,
            ended_by=event.ended_by,
            turns=[
                TurnRow(
                    role=turn.role,
                    text=turn.text,
                    started_at=utc(turn.started_at),
                    ended_at=utc(turn.ended_at),
                    response_latency_seconds=turn.response_latency_seconds,
                )
                for turn in event.turns
            ],
        )
        current = self.transcripts.get(event.call_id)
        if current is None or row.finalized_at >= current.finalized_at:
            self.transcripts[event.call_id] = row

    def _add_outcome(self, event: OutcomeRecorded) -> None:
        row = OutcomeRow(
            call_id=event.call_id,
            lead_id=event.lead_id,
            campaign_id=event.campaign_id,
            recorded_at=utc(event.occurred_at),
            conversation_summary=event.conversation_summary,
            interest_level=event.interest_level,
            scheduled_meeting=event.scheduled_meeting,
            meeting_time=utc(event.meeting_time) if event.meeting_time else None,
            next_steps=event.next_steps,
            notes=event.notes,
            source=event.source,
            summary_written_by=event.summary_written_by,
            callback_at=utc(event.callback_at) if event.callback_at else None,
            meeting_id=event.meeting_id,
        )
        current = self.outcomes.get(event.call_id)
        if current is None or row.recorded_at >= current.recorded_at:
            self.outcomes[event.call_id] = row
        if event.failure is not None:
            # Answered, then lost (the agent's process died): the call failed for that
            # reason, as a carrier's failure would say, in the same columns.
            call = self._call(event)
            call.failed_at, call.failure_reason = row.recorded_at, event.failure
            call.failure_detail = event.conversation_summary

    def _add_booking(self, event: MeetingBooked) -> None:
        row = booking_row(event)
        key = (event.meeting_id, event.slot_id)
        current = self.bookings.get(key)
        # The same rule as the table's: the higher revision of one slot's booking wins.
        if current is None or row.revision >= current.revision:
            self.bookings[key] = row

    def _add_cancel(self, event: MeetingCanceled) -> None:
        row = CancelRow(
            meeting_id=event.meeting_id,
            slot_id=event.slot_id,
            canceled_at=utc(event.occurred_at),
            reason=event.reason,
            detail=event.detail,
        )
        key = (event.meeting_id, event.slot_id)
        current = self.cancels.get(key)
        if current is None or row.canceled_at >= current.canceled_at:
            self.cancels[key] = row


def fold(events: Iterable[AnyEvent]) -> ProjectionBatch:
    """The rows a run of events (in stream order) produces."""
    batch = ProjectionBatch()
    for event in events:
        batch.add(event)
    return batch


def lead_row(
    lead_id: UUID,
    lead: LeadProfile,
    status: str | None,
    source: str | None,
    imported_at: datetime | None,
) -> LeadRow:
    return LeadRow(
        lead_id=lead_id,
        phone_number=lead.phone_number,
        business_name=lead.business_name,
        contact_name=lead.contact_name,
        business_type=lead.business_type,
        company_size=lead.company_size,
        current_challenges=lead.current_challenges,
        best_call_time=lead.best_call_time,
        business_type_original=lead.business_type_original,
        company_size_original=lead.company_size_original,
        imported_status=status,
        source=source,
        imported_at=utc(imported_at) if imported_at else None,
    )


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone by name; UTC when this machine does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_moment(moment: datetime, zone: str) -> datetime:
    """A moment (aware, or naive UTC as the tables hold it) in the named zone."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone_of(zone))


def booking_row(event: MeetingBooked) -> BookingRow:
    return BookingRow(
        meeting_id=event.meeting_id,
        slot_id=event.slot_id,
        revision=event.revision,
        booked_at=utc(event.occurred_at),
        rep_id=event.rep_id,
        rep_name=event.rep_name,
        rep_email=event.rep_email,
        starts_at=utc(event.starts_at),
        ends_at=utc(event.ends_at),
        lead_zone=event.lead_zone,
        starts_local=local_moment(event.starts_at, event.lead_zone).isoformat(timespec="seconds"),
        calendar=event.calendar,
        lead_id=event.lead_id,
        call_id=event.call_id,
        campaign_id=event.campaign_id,
        business_name=event.business_name,
        contact_name=event.contact_name,
        contact_number=event.contact_number,
        contact_email=event.contact_email,
    )


def fill_call(
    row: CallRow,
    event: CallRequested
    | CallPlaced
    | CallAnswered
    | AnswerClassified
    | CallFailed
    | CallCompleted
    | CallRecorded,
) -> None:
    """Each call event fills its own columns; a later value replaces an earlier one."""
    at = utc(event.occurred_at)
    match event:
        case CallRequested():
            row.attempt, row.requested_at = event.attempt, at
            row.time_limit_seconds = event.time_limit_seconds
        case CallPlaced():
            row.placed_at, row.provider = at, event.provider
            row.provider_call_id = event.provider_call_id
        case CallAnswered():
            row.answered_at, row.answered_by = at, event.answered_by
        case AnswerClassified():
            row.classified_by = event.answered_by
        case CallFailed():
            row.failed_at, row.failure_reason = at, event.reason
            row.failure_detail, row.refusal_rule = event.detail, event.rule
            if event.provider_error_code is not None:
                row.provider_error_code = event.provider_error_code
        case CallCompleted():
            row.completed_at, row.duration_seconds = at, event.duration_seconds
        case CallRecorded():
            row.recording_url = event.recording_url


def continues(last_sequence: int, sequences: Sequence[int]) -> bool:
    """True when the sequences follow the last applied one without a hole."""
    return list(sequences) == list(range(last_sequence + 1, last_sequence + 1 + len(sequences)))

"""The read side of the Calls API: one call in full, or a page of calls, from the projection.

A call's result and status are the ones the results file gives it (the same SQL, see
reports.CALL_FACTS); its events come from the stream (replay.read_history).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import duckdb
import msgspec

from services.analytics.domain import NOT_DIALLED, local_moment
from services.analytics.replay import Recorded
from services.analytics.reports import CALL_FACTS, sql_text


class UnknownCallError(LookupError):
    """No event on the stream is about this call."""

    def __init__(self, call_id: UUID) -> None:
        super().__init__(f"call_id: no call {call_id} is on the stream")
        self.call_id = call_id


class CallNotProjectedError(RuntimeError):
    """The stream has the call but the projection has not reached it yet."""

    def __init__(self, call_id: UUID, sequence: int) -> None:
        super().__init__(
            f"call_id: call {call_id} is on the stream (seq {sequence}) but not yet in the "
            "projection; try again shortly"
        )
        self.call_id = call_id


class CallLead(msgspec.Struct, kw_only=True):
    lead_id: UUID
    business_name: str
    contact_name: str
    phone_number: str


class Failure(msgspec.Struct, kw_only=True):
    reason: str  # busy, no-answer, failed, canceled, timeout, machine, invalid-number, rejected
    detail: str
    rule: str | None  # the calling rule that refused it at the dial
    provider_error_code: int | None  # Twilio's error code


class TranscriptTurn(msgspec.Struct, kw_only=True):
    role: str  # agent or prospect
    text: str
    started_at: datetime
    ended_at: datetime
    response_latency_seconds: float | None


class Meeting(msgspec.Struct, kw_only=True):
    """The meeting the call's outcome links, as its booking stands now; the model's own
    word that it set one is `claimed`, which alone books nothing."""

    scheduled: bool  # a booking the outcome links, and it still holds
    meeting_id: UUID | None  # the booking the outcome links; None: it links none
    # booked (it holds), canceled, failed (the calendar refused it); None: no booking of
    # that id is known
    status: str | None
    time: datetime | None  # its current start, in the lead's zone with the offset
    ends_at: datetime | None  # likewise
    time_zone: str | None  # the IANA zone the time was told to the lead in
    rep: str | None  # the rep's name
    rep_email: str | None
    revision: int | None  # 0 when first booked, one more each time it was moved
    booked_on_call: UUID | None  # the call that booked it; None: through the API
    claimed: bool  # the outcome said a meeting was set


class CallEventRecord(msgspec.Struct, kw_only=True):
    sequence: int  # in the stream
    subject: str
    type: str
    occurred_at: datetime
    event: dict[str, Any]  # the event as it is stored on the stream


class CallDetail(msgspec.Struct, kw_only=True):
    call_id: UUID
    lead: CallLead
    campaign_id: UUID
    campaign_name: str | None
    attempt: int | None
    state: str  # queued, ringing, answered, voicemail, ended, failed, not-dialled
    call_status: str  # answered, failed, timeout; empty while live or when not dialled
    call_result: str  # as in the results file: answered, voicemail, busy, ...
    requested_at: datetime | None
    placed_at: datetime | None
    answered_at: datetime | None
    answered_by: str | None  # human, machine, fax, unknown
    ended_at: datetime | None
    duration_seconds: float | None
    provider: str | None
    provider_call_id: str | None
    failure: Failure | None
    ended_by: str | None  # how the conversation ended: goodbye, opt-out, voicemail, ...
    transcript: list[TranscriptTurn]
    summary: str | None
    summary_written_by: str | None  # model or template
    interest_level: str | None
    meeting: Meeting
    next_steps: str | None
    callback_at: datetime | None
    recording_url: str | None
    events: list[CallEventRecord] = msgspec.field(default_factory=list)


class CallSummary(msgspec.Struct, kw_only=True):
    call_id: UUID
    lead_id: UUID
    business_name: str
    contact_name: str
    phone_number: str
    campaign_id: UUID
    attempt: int | None
    state: str
    call_status: str
    call_result: str
    call_date: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    interest_level: str | None
    scheduled_meeting: bool | None  # a booking the outcome links still holds; None: no outcome
    meeting_id: UUID | None  # the booking the outcome links, however it stands
    meeting_status: str | None  # booked, canceled, failed
    meeting_time: datetime | None  # its current start, in the lead's zone with the offset
    meeting_zone: str | None
    meeting_rep: str | None


class CallPage(msgspec.Struct, kw_only=True):
    total: int  # calls matching the filters, on every page
    offset: int
    limit: int
    calls: list[CallSummary]


def aware(moment: datetime | None) -> datetime | None:
    """The tables hold naive UTC; callers get it marked as UTC."""
    return None if moment is None else moment.replace(tzinfo=UTC)


def named_rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The executed query's rows by column name, every moment marked as UTC."""
    names = [column[0] for column in cursor.description or ()]
    return [
        {
            name: aware(value) if isinstance(value, datetime) else value
            for name, value in zip(names, row, strict=True)
        }
        for row in cursor.fetchall()
    ]


DETAIL = f"""
WITH {CALL_FACTS}
SELECT f.*, l.business_name, l.contact_name, l.phone_number, k.name AS campaign_name
FROM call_facts f
LEFT JOIN leads l USING (lead_id)
LEFT JOIN campaigns k USING (campaign_id)
WHERE f.call_id = $call_id::UUID
"""


def call_detail(cursor: duckdb.DuckDBPyConnection, call_id: UUID) -> CallDetail | None:
    """One call as the projection has it, without its events; None when it is unknown."""
    rows = named_rows(cursor.execute(DETAIL, {"call_id": str(call_id)}))
    if not rows:
        return None
    [row] = rows
    failure = None
    if row["failure_reason"] is not None:
        failure = Failure(
            reason=row["failure_reason"],
            detail=row["failure_detail"] or "",
            rule=row["refusal_rule"],
            provider_error_code=row["provider_error_code"],
        )
    return CallDetail(
        call_id=row["call_id"],
        lead=CallLead(
            lead_id=row["lead_id"],
            business_name=row["business_name"] or "",
            contact_name=row["contact_name"] or "",
            phone_number=row["phone_number"] or "",
        ),
        campaign_id=row["campaign_id"],
        campaign_name=row["campaign_name"],
        attempt=row["attempt"],
        state=row["state"],
        call_status=row["call_status"],
        call_result=row["call_result"],
        requested_at=row["requested_at"],
        placed_at=row["placed_at"],
        answered_at=row["answered_at"],
        answered_by=row["answered_by"],
        ended_at=row["ended_at"],
        duration_seconds=row["call_seconds"],
        provider=row["provider"],
        provider_call_id=row["provider_call_id"],
        failure=failure,
        ended_by=row["ended_by"],
        transcript=[
            TranscriptTurn(
                role=turn["role"],
                text=turn["text"],
                started_at=turn["started_at"].replace(tzinfo=UTC),
                ended_at=turn["ended_at"].replace(tzinfo=UTC),
                response_latency_seconds=turn["response_latency_seconds"],
            )
            for turn in row["turns"] or ()
        ],
        summary=row["conversation_summary"],
        summary_written_by=row["summary_written_by"],
        interest_level=row["interest_level"],
        meeting=meeting_of(row),
        next_steps=row["next_steps"],
        callback_at=row["callback_at"],
        recording_url=row["recording_url"],
    )


def meeting_of(row: dict[str, Any]) -> Meeting:
    zone = row["meeting_zone"]
    linked = row["meeting_status"] is not None
    return Meeting(
        scheduled=bool(row["scheduled_meeting"]),
        meeting_id=row["meeting_id"],
        status=row["meeting_status"],
        time=local_moment(row["meeting_starts_at"], zone) if linked else None,
        ends_at=local_moment(row["meeting_ends_at"], zone) if linked else None,
        time_zone=zone,
        rep=row["meeting_rep"],
        rep_email=row["meeting_rep_email"],
        revision=row["meeting_revision"],
        booked_on_call=row["meeting_booked_on_call"],
        claimed=bool(row["meeting_claimed"]),
    )


# A call_status value matches every result it stands for; "not-dialled" every rule's.
MATCHES_STATUS = f"""(
    $status::VARCHAR IS NULL OR f.call_status = $status OR f.call_result = $status
    OR ($status = {sql_text(NOT_DIALLED)} AND f.call_result LIKE {sql_text(NOT_DIALLED + ":%")})
)"""

LIST_FILTERS = f"""
FROM call_facts f
LEFT JOIN leads l USING (lead_id)
WHERE ($campaign::UUID IS NULL OR f.campaign_id = $campaign::UUID) AND {MATCHES_STATUS}
"""

COUNT = f"WITH {CALL_FACTS} SELECT count(*) {LIST_FILTERS}"

PAGE = f"""
WITH {CALL_FACTS}
SELECT f.call_id, f.lead_id, coalesce(l.business_name, '') AS business_name,
    coalesce(l.contact_name, '') AS contact_name, coalesce(l.phone_number, '') AS phone_number,
    f.campaign_id, f.attempt, f.state, f.call_status, f.call_result, f.call_date, f.ended_at,
    f.call_seconds AS duration_seconds, f.interest_level, f.scheduled_meeting,
    f.meeting_id, f.meeting_status, f.meeting_time, f.meeting_zone, f.meeting_rep
{LIST_FILTERS}
ORDER BY f.call_date DESC NULLS LAST, f.attempt DESC NULLS LAST, f.call_id DESC
LIMIT $limit OFFSET $offset
"""


def list_calls(
    cursor: duckdb.DuckDBPyConnection,
    campaign_id: UUID | None,
    status: str | None,
    limit: int,
    offset: int,
) -> CallPage:
    """Calls newest first, filtered by campaign and by call_status or call_result."""
    filters: dict[str, Any] = {
        "campaign": str(campaign_id) if campaign_id else None,
        "status": status,
    }
    [total] = cursor.execute(COUNT, filters).fetchone() or (0,)
    page = named_rows(cursor.execute(PAGE, filters | {"limit": limit, "offset": offset}))
    return CallPage(
        total=total,
        offset=offset,
        limit=limit,
        calls=msgspec.convert(page, list[CallSummary]),
    )


def event_records(history: Sequence[Recorded]) -> list[CallEventRecord]:
    """The stream's events for the response: typed fields, and the JSON as stored."""
    return [
        CallEventRecord(
            sequence=entry.sequence,
            subject=entry.subject,
            type=type(entry.event).__name__,
            occurred_at=entry.event.occurred_at,
            event=msgspec.json.decode(entry.data),
        )
        for entry in history
    ]

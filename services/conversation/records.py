"""The events a call leaves behind, built from what the call collected. Pure.

Ids derive from the call id, so a retried finalisation republishes the same events and
JetStream drops the copies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import uuid4, uuid5
from zoneinfo import ZoneInfo

import msgspec

from libs.events import (
    CallAnswered,
    CallRequested,
    LeadOptedOut,
    MediaStreamStarted,
    OutcomeRecorded,
    TranscriptFinalized,
    Turn,
    TurnRecorded,
)
from libs.events.model import CallEvent, CallFailureReason
from services.conversation.domain import (
    FOLLOW_UP_BY_EMAIL,
    EndedBy,
    FinishedCall,
    Outcome,
    classify,
    lead_zone,
    local_time_text,
)

OutcomeSource = Literal["tool", "summary", "fallback"]


def call_answered(request: CallRequested, now: datetime) -> CallAnswered:
    return CallAnswered(
        event_id=uuid5(request.call_id, "answered"),
        occurred_at=now,
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        answered_by="human",
    )


def stream_started(
    request: CallRequested, stream_sid: str, call_sid: str, now: datetime
) -> MediaStreamStarted:
    # A fresh id on purpose: JetStream would take a copy under a known id for a duplicate
    # and report it stored, and a replayed stream would pass for the first.
    return MediaStreamStarted(
        event_id=uuid4(),
        occurred_at=now,
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        stream_sid=stream_sid,
        provider_call_id=call_sid,
    )


def lead_opted_out(request: CallRequested, now: datetime) -> LeadOptedOut:
    return LeadOptedOut(
        event_id=uuid5(request.call_id, "opted-out"),
        occurred_at=now,
        lead_id=request.lead_id,
        phone_number=request.lead.phone_number,
        source="call",
        call_id=request.call_id,
        campaign_id=request.campaign_id,
    )


def turn_recorded(request: CallRequested, index: int, turn: Turn, now: datetime) -> TurnRecorded:
    return TurnRecorded(
        event_id=uuid5(request.call_id, f"turn/{index}"),
        occurred_at=now,
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        index=index,
        turn=turn,
    )


def transcript_finalized(
    call: CallEvent,
    turns: list[Turn],
    duration_seconds: float,
    now: datetime,
    ended_by: EndedBy,
    *,
    by_sweeper: bool = False,
) -> TranscriptFinalized:
    """`call`: any event of the call (its ids are all that is read). The live call and the
    sweeper use different event ids, so that neither's copy passes for the other's: the
    subject holds one transcript, and whichever is stored first is the call's."""
    return TranscriptFinalized(
        event_id=uuid5(call.call_id, "transcript/fallback" if by_sweeper else "transcript"),
        occurred_at=now,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        turns=tuple(turns),
        duration_seconds=round(duration_seconds, 3),
        ended_by=ended_by,
    )


def outcome_recorded(
    call: CallEvent,
    outcome: Outcome,
    source: OutcomeSource,
    now: datetime,
    *,
    failure: CallFailureReason | None = None,
    by_sweeper: bool = False,
) -> OutcomeRecorded:
    return OutcomeRecorded(
        event_id=uuid5(call.call_id, "outcome/fallback" if by_sweeper else "outcome"),
        occurred_at=now,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        conversation_summary=outcome.summary or "Call ended.",
        interest_level=outcome.interest_level,
        scheduled_meeting=outcome.scheduled_meeting,
        meeting_time=outcome.meeting_time,
        next_steps=outcome.next_steps,
        notes=outcome.notes,
        source=source,
        summary_written_by=outcome.summary_written_by,
        callback_at=outcome.callback_at,
        failure=failure,
        meeting_id=outcome.meeting_id,
    )


def final_outcome(
    call: FinishedCall, *, recorded: Outcome | None, reading: Outcome | None
) -> tuple[Outcome, OutcomeSource]:
    """The call's outcome, and where its values came from.

    The values: the model's record_outcome; else the model's reading of the transcript
    (never for an opt-out or a voicemail, which say all there is); else the cue words'.
    The meeting: only the one book_meeting booked; when the calendar failed and none was,
    the next steps say to follow up by email.
    The summary: the model's own, from record_outcome or from reading the transcript;
    a template, labelled automatic, only when no model wrote one.
    """
    if recorded is not None:
        outcome, source = recorded, "tool"
    elif reading is not None and call.ended_by not in ("opt-out", "voicemail"):
        outcome, source = reading, "summary"
    else:
        outcome, source = fallback_outcome(list(call.turns), call.ended_by), "fallback"
    # A meeting is one book_meeting booked in the calendar, whatever the model said in
    # record_outcome or read into the transcript: words alone book nothing.
    outcome = msgspec.structs.replace(
        outcome,
        scheduled_meeting=call.meeting_id is not None,
        meeting_time=call.meeting_time,
        meeting_id=call.meeting_id,
    )
    if call.calendar_trouble and call.meeting_id is None:
        outcome = msgspec.structs.replace(
            outcome, next_steps=f"{FOLLOW_UP_BY_EMAIL} {outcome.next_steps}".strip()
        )
    written = next((o.summary for o in (recorded, reading) if o is not None and o.summary), "")
    callback_at = call.callback_at or outcome.callback_at
    outcome = msgspec.structs.replace(
        outcome,
        callback_at=callback_at,
        next_steps=_with_callback(outcome.next_steps, callback_at, lead_zone(call.lead)),
    )
    if written:
        return msgspec.structs.replace(outcome, summary=written, summary_written_by="model"), source
    summary = automatic_summary(call, outcome)
    return msgspec.structs.replace(outcome, summary=summary, summary_written_by="template"), source


def _with_callback(next_steps: str, callback_at: datetime | None, zone: ZoneInfo) -> str:
    """Next steps that lead with the callback the prospect asked for, when there is one."""
    if callback_at is None:
        return next_steps
    local = callback_at.astimezone(zone)
    line = f"Call back {local_time_text(local, year=True)} ({zone.key})."
    # The model's own "call back Tuesday" says the same, less exactly.
    rest = "" if next_steps.casefold().startswith("call back") else next_steps
    return f"{line} {rest}".strip()


_NO_CONVERSATION: dict[str, str] = {
    "fax": "a fax machine answered, so the agent hung up without speaking.",
    "voicemail": "an answering machine took the call; the agent left a message with the "
    "callback number.",
}


def automatic_summary(call: FinishedCall, outcome: Outcome) -> str:
    """The template, used only when no model wrote a summary; it says it is automatic."""
    if not call.had_conversation:
        what = _NO_CONVERSATION.get(
            call.ended_by, f"the prospect said nothing before the call ended ({call.ended_by})."
        )
        return f"Automatic summary: {what}"
    parts = [
        "Automatic summary (no model summary was available):",
        summarize(list(call.turns), call.ended_by),
        f"Interest {outcome.interest_level}.",
    ]
    if outcome.scheduled_meeting and outcome.meeting_time is not None:
        local = outcome.meeting_time.astimezone(lead_zone(call.lead))
        parts.append(f"Meeting booked for {local.isoformat(timespec='minutes')}.")
    parts += [text for text in (outcome.notes, outcome.next_steps) if text]
    return " ".join(parts)


def summarize(turns: list[Turn], ended_by: EndedBy) -> str:
    """A short, transcript-free account of how the call went (safe to store and show)."""
    spoken = sum(1 for turn in turns if turn.role == "prospect")
    return f"Call ended ({ended_by}) after {spoken} prospect turn{'s' * (spoken != 1)}."


def lost_call_outcome(turns: list[Turn], answered_by: str) -> tuple[Outcome, EndedBy]:
    """The sweeper's outcome for an answered call whose transcript nobody closed, and how
    its transcript ends. A fax needs no agent, so losing one loses nothing; any other call
    was cut short by the agent's loss, and says so."""
    if answered_by == "fax":
        outcome = fallback_outcome([], "fax")
        summary = f"Automatic summary: {_NO_CONVERSATION['fax']}"
        return msgspec.structs.replace(
            outcome, summary=summary, summary_written_by="template"
        ), "fax"
    outcome = fallback_outcome(turns, "agent-lost")
    spoken = sum(1 for turn in turns if turn.role == "prospect")
    summary = (
        "Automatic summary: the agent was lost mid-call (its conversation process stopped) "
        f"after {spoken} prospect turn{'s' * (spoken != 1)}; the call is retried."
    )
    outcome = msgspec.structs.replace(
        outcome, summary=summary, summary_written_by="template", next_steps="Retry the call."
    )
    return outcome, "agent-lost"


def fallback_outcome(turns: list[Turn], ended_by: EndedBy) -> Outcome:
    """The outcome when no tool recorded one and no model read the call: by cue words."""
    intents = [classify(turn.text) for turn in turns if turn.role == "prospect"]
    if ended_by == "fax":
        return Outcome(
            interest_level="low",
            next_steps="The number is a fax: find a voice number before calling again.",
            notes="A fax machine answered.",
        )
    if ended_by == "opt-out" or "opt-out" in intents:
        return Outcome(interest_level="low", notes="Asked not to be called.")
    if ended_by == "voicemail":
        return Outcome(interest_level="low", next_steps="Retry later.")
    if "decline" in intents:
        return Outcome(interest_level="low")
    if {"accept", "lukewarm", "callback", "maybe"} & set(intents):
        return Outcome(interest_level="medium", next_steps="Follow up.")
    return Outcome(interest_level="low", next_steps="Retry later.")

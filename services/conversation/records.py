"""The events a call leaves behind, built from what the call collected. Pure.

Ids derive from the call id, so a retried finalisation republishes the same events and
JetStream drops the copies.
"""

from __future__ import annotations

from datetime import datetime
from uuid import uuid5

import msgspec

from libs.events import (
    CallAnswered,
    CallRequested,
    LeadOptedOut,
    OutcomeRecorded,
    TranscriptFinalized,
    Turn,
)
from services.conversation.domain import EndedBy, Outcome, classify


def call_answered(request: CallRequested, now: datetime) -> CallAnswered:
    return CallAnswered(
        event_id=uuid5(request.call_id, "answered"),
        occurred_at=now,
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        answered_by="human",
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


def transcript_finalized(
    request: CallRequested,
    turns: list[Turn],
    started_at: datetime,
    now: datetime,
    ended_by: EndedBy,
) -> TranscriptFinalized:
    return TranscriptFinalized(
        event_id=uuid5(request.call_id, "transcript"),
        occurred_at=now,
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        turns=tuple(turns),
        duration_seconds=round((now - started_at).total_seconds(), 3),
        ended_by=ended_by,
    )


def outcome_recorded(
    request: CallRequested, outcome: Outcome, source: str, now: datetime
) -> OutcomeRecorded:
    return OutcomeRecorded(
        event_id=uuid5(request.call_id, "outcome"),
        occurred_at=now,
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        conversation_summary=outcome.summary or "Call ended.",
        interest_level=outcome.interest_level,
        scheduled_meeting=outcome.scheduled_meeting,
        meeting_time=outcome.meeting_time,
        next_steps=outcome.next_steps,
        notes=outcome.notes,
        source=source,  # type: ignore[arg-type]
    )


def summarize(turns: list[Turn], ended_by: EndedBy) -> str:
    """A short, transcript-free account of how the call went (safe to store and show)."""
    spoken = sum(1 for turn in turns if turn.role == "prospect")
    return f"Call ended ({ended_by}) after {spoken} prospect turn{'s' * (spoken != 1)}."


def fallback_outcome(turns: list[Turn], ended_by: EndedBy) -> Outcome:
    """The outcome when no tool recorded one: read from the prospect's words by cue."""
    intents = [classify(turn.text) for turn in turns if turn.role == "prospect"]
    summary = summarize(turns, ended_by)
    if ended_by == "opt-out" or "opt-out" in intents:
        return Outcome(interest_level="low", notes="Asked not to be called.", summary=summary)
    if ended_by == "voicemail":
        return Outcome(interest_level="low", next_steps="Retry later.", summary=summary)
    if "decline" in intents:
        return Outcome(interest_level="low", summary=summary)
    if {"accept", "lukewarm", "callback", "maybe"} & set(intents):
        return Outcome(interest_level="medium", next_steps="Follow up.", summary=summary)
    return Outcome(interest_level="low", next_steps="Retry later.", summary=summary)


def with_summary(outcome: Outcome, turns: list[Turn], ended_by: EndedBy) -> Outcome:
    """The tool's outcome, with a short summary built from it when the model gave none."""
    if outcome.summary:
        return outcome
    parts = [summarize(turns, ended_by), f"Interest {outcome.interest_level}."]
    if outcome.scheduled_meeting and outcome.meeting_time is not None:
        parts.append(f"Meeting booked for {outcome.meeting_time.isoformat(timespec='minutes')}.")
    parts += [text for text in (outcome.notes, outcome.next_steps) if text]
    return msgspec.structs.replace(outcome, summary=" ".join(parts))

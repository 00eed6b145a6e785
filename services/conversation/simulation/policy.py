"""The simulated model's sales policy: discovery, pitch, meeting proposal, and the tools a
real model would call at each ending. Deterministic, so simulated campaigns replay exactly.

Pure: the conversation so far in, one Reply out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from libs.events import LeadProfile
from services.conversation.domain import (
    Agent,
    Intent,
    Playbook,
    Reply,
    ToolCall,
    callback_time_from,
    classify,
    lead_zone,
    local_time_text,
    meeting_time_from,
    voicemail_message,
)

# Agent lines spoken before the proposal: greeting, discovery question, pitch.
_PROPOSAL_STAGE = 3


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """What the policy needs: who, the playbook, and how far the call has come."""

    agent: Agent
    lead: LeadProfile
    playbook: Playbook
    agent_lines: int  # assistant messages so far, the greeting included
    prospect_text: str  # the prospect's latest turn
    now: datetime


def next_reply(conversation: Conversation) -> Reply:
    intent = classify(conversation.prospect_text)
    meeting_time = meeting_time_from(
        conversation.prospect_text,
        conversation.now,
        conversation.lead.time_zones[0] if conversation.lead.time_zones else None,
    )
    proposed = conversation.agent_lines > _PROPOSAL_STAGE
    if intent == "accept" and (meeting_time is not None or proposed):
        return _book(conversation, meeting_time)
    if intent in _ENDINGS:
        return _ENDINGS[intent](conversation)
    if intent == "maybe" and proposed:
        return _lukewarm(conversation)
    return _advance(conversation)


def _advance(conversation: Conversation) -> Reply:
    lead, playbook = conversation.lead, conversation.playbook
    stage = conversation.agent_lines
    if stage <= 1:
        question = playbook.discovery_questions[0] if playbook.discovery_questions else ""
        return Reply(text=f"Thanks for taking the call. {question}".strip())
    if stage == 2:
        return Reply(
            text=f"That is exactly why we built {playbook.value_proposition}. "
            f"Businesses like {lead.business_name} use it to stop losing customers."
        )
    if stage == _PROPOSAL_STAGE:
        return Reply(
            text="Would you be open to a fifteen minute demo this week? "
            "Just tell me a day and time that works for you."
        )
    return _wrap_up(conversation, "medium", "Follow up by email.", "No firm answer.")


def _book(conversation: Conversation, meeting_time: datetime | None) -> Reply:
    if meeting_time is None:
        return Reply(text="Great! Which day and time would suit you best?")
    spoken = meeting_time.strftime("%A at %I:%M %p").replace(" 0", " ")
    iso = meeting_time.isoformat()
    return Reply(
        text=f"Wonderful, I have booked you in for {spoken}. "
        "You will get a confirmation shortly. Thank you, goodbye!",
        tool_calls=(
            ToolCall(name="schedule_meeting", arguments={"meeting_time": iso}),
            _outcome("high", scheduled_meeting=True, meeting_time=iso, next_steps="Demo call."),
            ToolCall(name="end_call", arguments={"reason": "goodbye"}),
        ),
    )


def _opt_out(conversation: Conversation) -> Reply:
    return Reply(
        text="Of course. I have removed your number and you will not be called again. Goodbye.",
        tool_calls=(ToolCall(name="opt_out", arguments={}),),
    )


def _voicemail(conversation: Conversation) -> Reply:
    return Reply(
        text=voicemail_message(conversation.agent, conversation.lead),
        tool_calls=(
            _outcome("low", next_steps="Wait for a callback; retry later.", notes="Voicemail."),
            ToolCall(name="end_call", arguments={"reason": "voicemail"}),
        ),
    )


def _decline(conversation: Conversation) -> Reply:
    return _wrap_up(conversation, "low", "", "Not interested.")


def _callback(conversation: Conversation) -> Reply:
    """Books the callback the prospect asked for, at the time they named or, if they named
    none, at the start of their best calling hours on the next weekday."""
    zone = lead_zone(conversation.lead)
    at = callback_time_from(conversation.prospect_text, conversation.now, zone)
    if at is None:
        at = _next_good_time(conversation)
    return Reply(
        text=f"Of course, I will call you back on {local_time_text(at)}. Thank you, goodbye.",
        tool_calls=(
            ToolCall(
                name="schedule_callback",
                arguments={"callback_time": at.replace(tzinfo=None).isoformat(timespec="minutes")},
            ),
            _outcome("medium", notes="Asked to be called back."),
            ToolCall(name="end_call", arguments={"reason": "goodbye"}),
        ),
    )


def _next_good_time(conversation: Conversation) -> datetime:
    lead = conversation.lead
    local = conversation.now.astimezone(lead_zone(lead))
    day = local.date() + timedelta(days=1)
    while day.weekday() >= 5:  # the weekend: no calls
        day += timedelta(days=1)
    start = lead.best_call_window.start if lead.best_call_window else None
    hour, minute = (start.hour, start.minute) if start else (10, 0)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=local.tzinfo)


def _lukewarm(conversation: Conversation) -> Reply:
    return _wrap_up(conversation, "medium", "Send information by email.", "Wants information.")


def _wrap_up(conversation: Conversation, interest: str, next_steps: str, notes: str) -> Reply:
    closing = {
        "low": "I understand. Thank you for your time, and have a good day. Goodbye.",
        "medium": "No problem at all, we will be in touch. Thank you, goodbye.",
    }[interest]
    return Reply(
        text=closing,
        tool_calls=(
            _outcome(interest, next_steps=next_steps, notes=notes),
            ToolCall(name="end_call", arguments={"reason": "goodbye"}),
        ),
    )


def _outcome(interest: str, **fields: object) -> ToolCall:
    return ToolCall(name="record_outcome", arguments={"interest_level": interest, **fields})


_ENDINGS = {
    "opt-out": _opt_out,
    "voicemail": _voicemail,
    "decline": _decline,
    "callback": _callback,
    "lukewarm": _lukewarm,
}
_: tuple[Intent, ...] = tuple(_ENDINGS)  # every key is an Intent

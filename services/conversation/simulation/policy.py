"""The simulated model's sales policy: discovery, pitch, meeting proposal, and the tools a
real model would call at each ending. Deterministic, so simulated campaigns replay exactly.

A meeting goes as with a real model: check_availability, the times it gave offered in its
words, book_meeting with the slot the prospect chose ("the second one"), the booked time
read back; a time just taken gets the new times offered.

Pure: the conversation so far (and the calendar's latest answer) in, one Reply out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

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
    # The calendar's answer the model is run on (check_availability, book_meeting), if any.
    calendar: dict[str, Any] | None = None
    offered: tuple[dict[str, Any], ...] = ()  # the latest times offered on this call


def next_reply(conversation: Conversation) -> Reply:
    if conversation.calendar is not None:
        return _calendar_answered(conversation, conversation.calendar)
    intent = classify(conversation.prospect_text)
    meeting_time = _named_time(conversation)
    proposed = conversation.agent_lines > _PROPOSAL_STAGE
    if intent == "accept" and conversation.offered:
        return _book(conversation)
    if intent == "accept" and (meeting_time is not None or proposed):
        return _check_availability(meeting_time)
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
        return _check_availability(None)  # the offer is spoken once the times are in
    return _wrap_up(conversation, "medium", "Follow up by email.", "No firm answer.")


def _named_time(conversation: Conversation) -> datetime | None:
    zones = conversation.lead.time_zones
    return meeting_time_from(
        conversation.prospect_text, conversation.now, zones[0] if zones else None
    )


def _check_availability(around: datetime | None) -> Reply:
    arguments = (
        {"around": around.replace(tzinfo=None).isoformat(timespec="minutes")} if around else {}
    )
    return Reply(text="", tool_calls=(ToolCall(name="check_availability", arguments=arguments),))


_ORDINALS = (("first", 0), ("1st", 0), ("second", 1), ("2nd", 1), ("third", 2), ("3rd", 2))
_LAST = re.compile(r"\b(last|latest) one\b")


def _book(conversation: Conversation) -> Reply:
    """Book the offered time the prospect chose: by its place in the offer, else the first."""
    lowered = conversation.prospect_text.casefold()
    offered = conversation.offered
    index = next((i for word, i in _ORDINALS if word in lowered), 0)
    if _LAST.search(lowered):
        index = len(offered) - 1
    chosen = offered[min(index, len(offered) - 1)]
    return Reply(text="", tool_calls=(_book_call(chosen),))


def _book_call(slot: dict[str, Any]) -> ToolCall:
    return ToolCall(name="book_meeting", arguments={"slot": slot["slot"]})


def _calendar_answered(conversation: Conversation, answer: dict[str, Any]) -> Reply:
    if answer.get("booked"):
        return _confirm(answer)
    slots = answer.get("slots")
    if slots is None:  # the calendar could not be reached
        return Reply(
            text="I cannot reach our calendar right now, so I will follow up by email with "
            "some times that work. Thank you, goodbye!",
            tool_calls=(
                _outcome("medium", next_steps="Follow up by email with meeting times."),
                ToolCall(name="end_call", arguments={"reason": "goodbye"}),
            ),
        )
    if not slots:
        return _wrap_up(conversation, "medium", "Email meeting times.", "No time free soon.")
    named = _named_time(conversation)
    exact = next((s for s in slots if named and datetime.fromisoformat(s["time"]) == named), None)
    if exact is not None and not answer.get("error"):
        return Reply(text="", tool_calls=(_book_call(exact),))  # the very time they named
    times = [f"{slot['say']} with {slot['with']}" for slot in slots]
    listed = times[0] if len(times) == 1 else ", ".join(times[:-1]) + f", or {times[-1]}"
    opening = (
        "Sorry, that time was just taken. I can also do"
        if answer.get("error")
        else "Would you be open to a fifteen minute demo? I can do"
    )
    return Reply(text=f"{opening} {listed}. Which suits you best?")


def _confirm(booked: dict[str, Any]) -> Reply:
    say, rep = booked["say"], booked["with"]
    return Reply(
        text=f"Wonderful, you are booked for {say} with {rep}. "
        "You will get an invitation shortly. Thank you, goodbye!",
        tool_calls=(
            _outcome(
                "high",
                scheduled_meeting=True,
                meeting_time=booked["time"],
                next_steps=f"Demo with {rep} on {say}.",
            ),
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

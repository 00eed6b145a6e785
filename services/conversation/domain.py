"""The sales conversation's rules: what the agent says first, what a prospect's words mean,
the scripted policy the simulated model follows, and the events a finished call records.

Pure: no I/O, no clock (time is an argument), no Pipecat.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from libs.events import LeadProfile
from libs.events.model import InterestLevel

OTHER_TYPE = "Other"
EndedBy = Literal[
    "goodbye", "opt-out", "prospect-hung-up", "timeout", "silence", "error", "voicemail"
]
Intent = Literal[
    "opt-out", "voicemail", "accept", "decline", "callback", "lukewarm", "maybe", "neutral"
]


class Playbook(msgspec.Struct, frozen=True, kw_only=True):
    value_proposition: str
    objections: tuple[str, ...] = ()
    discovery_questions: tuple[str, ...] = ()


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, and on whose behalf."""

    name: str
    company: str
    callback_number: str


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    arguments: dict[str, object]


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """One model response: words to speak, then tools to call."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    interest_level: InterestLevel
    scheduled_meeting: bool = False
    meeting_time: datetime | None = None
    next_steps: str = ""
    notes: str = ""
    summary: str = ""


class UnknownPlaybookError(ValueError):
    def __init__(self) -> None:
        super().__init__(f"the playbooks must include the fallback type {OTHER_TYPE!r}")


def parse_playbooks(raw: dict[str, object]) -> dict[str, Playbook]:
    playbooks = msgspec.convert(raw, dict[str, Playbook])
    if OTHER_TYPE not in playbooks:
        raise UnknownPlaybookError()
    return playbooks


def playbook_for(playbooks: dict[str, Playbook], business_type: str) -> Playbook:
    return playbooks.get(business_type, playbooks[OTHER_TYPE])


# What the agent says --------------------------------------------------------------------


def greeting(agent: Agent, lead: LeadProfile) -> str:
    """The disclosure, spoken before any model runs: who, for whom, automated, how to opt out."""
    contact = lead.contact_name.split()[0] if lead.contact_name else "there"
    return (
        f"Hi {contact}, this is {agent.name}, an automated assistant calling on behalf of "
        f"{agent.company}. If you would rather not get these calls, just say stop and "
        "I will remove your number."
    )


def voicemail_message(agent: Agent, lead: LeadProfile) -> str:
    return (
        f"Hello, this is {agent.name}, an automated assistant calling for {agent.company} "
        f"about {lead.business_name}. Please call us back at {agent.callback_number}. "
        "Thank you, goodbye."
    )


def time_limit_message() -> str:
    return "I am sorry, I have to end the call now. Thank you for your time, goodbye."


def silence_message() -> str:
    return "It seems the line has gone quiet, so I will let you go. Goodbye."


def system_prompt(agent: Agent, lead: LeadProfile, playbook: Playbook) -> str:
    """The real model's instructions: the lead, the playbook, the rules, the tools."""
    zone = lead.time_zones[0] if lead.time_zones else "unknown"
    lines = [
        f"You are {agent.name}, an automated sales assistant phoning on behalf of "
        f"{agent.company}. You have already greeted the prospect, said you are automated, "
        "and told them they can say stop to be removed.",
        f"You are speaking with {lead.contact_name or 'the owner'} of {lead.business_name}, "
        f"a {lead.company_size} {lead.business_type} business.",
        f"Their current challenges: {lead.current_challenges or 'not known'}.",
        f"Best time to call them: {lead.best_call_time or 'not known'}. Their time zone: {zone}.",
        f"What we offer them: {playbook.value_proposition}.",
        "Discovery questions to ask: " + " ".join(playbook.discovery_questions),
        "Objections you may hear: " + " ".join(playbook.objections),
        "Keep every reply to one or two short spoken sentences, no lists or formatting.",
        "Flow: ask one discovery question, pitch briefly, then propose a short meeting.",
        "If they agree to a time, call schedule_meeting with the time in their time zone "
        "and confirm it back to them.",
        "If they ask to stop or to be removed, call opt_out at once.",
        "If you reach a voicemail, leave a short message asking them to call back at "
        f"{agent.callback_number}, then call end_call.",
        "Before ending any conversation call record_outcome, then say goodbye and call end_call.",
    ]
    return "\n".join(lines)


# What the prospect means ----------------------------------------------------------------

_CUES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    ("opt-out", ("stop calling", "take me off", "remove me", "do not call", "don't call")),
    ("voicemail", ("leave a message", "after the tone", "voicemail", "you've reached")),
    ("decline", ("not interested", "no thanks", "no, thanks", "no thank you")),
    # Not bare "busy": "we miss calls when it gets busy" is interest, not a brush-off.
    ("callback", ("call back later", "call me back", "i'm busy", "i am busy", "busy right now")),
    ("lukewarm", ("send me some information", "send some information", "email me")),
    ("accept", ("yes", "sounds good", "works for me", "sure", "okay", "let's do it")),
    ("maybe", ("maybe", "not sure")),
)
_STOP_WORD = re.compile(r"^\W*stop\W*$", re.IGNORECASE)
_BUSY_ALONE = re.compile(r"^\W*(busy|we're busy|i'm busy)\W*$", re.IGNORECASE)


def classify(text: str) -> Intent:
    """The prospect's intent by cue words; the strongest wins (opt-out over everything)."""
    lowered = text.casefold().replace("\u2019", "'")
    if _STOP_WORD.match(lowered):
        return "opt-out"
    if _BUSY_ALONE.match(lowered):
        return "callback"
    for intent, cues in _CUES:
        if any(cue in lowered for cue in cues):
            return intent
    return "neutral"


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?", re.IGNORECASE)
_WORD_HOURS = {
    "nine": 9, "ten": 10, "eleven": 11, "noon": 12, "twelve": 12, "one": 13, "two": 14,
    "three": 15, "four": 16, "five": 17,
}  # fmt: skip


def meeting_time_from(text: str, now: datetime, zone: str | None) -> datetime | None:
    """A day and hour the prospect named ("Thursday at 10am"), as the next such moment."""
    lowered = text.casefold()
    day = next((index for index, name in enumerate(_DAYS) if name in lowered), None)
    if day is None and "tomorrow" not in lowered:
        return None
    hour, minute = _hour_named(lowered)
    if hour is None:
        return None
    tz = _zone(zone)
    local_now = now.astimezone(tz)
    days_ahead = 1 if day is None else (day - local_now.weekday()) % 7 or 7
    date = (local_now + timedelta(days=days_ahead)).date()
    return datetime(date.year, date.month, date.day, hour, minute, tzinfo=tz)


def _hour_named(lowered: str) -> tuple[int | None, int]:
    for match in _TIME.finditer(lowered):
        hour, minute, meridiem = int(match[1]), int(match[2] or 0), (match[3] or "")
        if not 1 <= hour <= 12:
            continue
        if (meridiem.startswith("p") and hour < 12) or (not meridiem and hour < 8):
            hour += 12
        return hour, minute
    for word, hour in _WORD_HOURS.items():
        if re.search(rf"\bat {word}\b", lowered):
            return hour, 0
    return None, 0


def _zone(zone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")

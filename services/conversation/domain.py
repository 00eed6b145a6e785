"""The sales conversation's rules: what the agent says first, what a prospect's words mean,
what time it is for the prospect, and when a callback they asked for may be.

Pure: no I/O, no clock (time is an argument), no Pipecat.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from libs.events import LeadProfile, Turn
from libs.events.model import NOT_A_PERSON, AnsweredBy, InterestLevel
from services.conversation.lead_record import lead_record_lines
from services.conversation.plain_text import plain_text

OTHER_TYPE = "Other"
# "agent-lost": the process carrying the call died, and the sweeper closed its transcript.
EndedBy = Literal[
    "goodbye",
    "opt-out",
    "prospect-hung-up",
    "timeout",
    "silence",
    "error",
    "voicemail",
    "fax",
    "agent-lost",
]
SummaryAuthor = Literal["model", "template"]
# The furthest ahead a callback may be booked: later than this, the lead is a new call.
CALLBACK_HORIZON = timedelta(days=30)
Intent = Literal[
    "opt-out", "voicemail", "accept", "decline", "callback", "lukewarm", "maybe", "neutral"
]


# What a call's next steps say when the calendar failed it and nothing was booked.
FOLLOW_UP_BY_EMAIL = "Follow up by email with meeting times: the calendar could not be reached."


class Playbook(msgspec.Struct, frozen=True, kw_only=True):
    value_proposition: str
    objections: tuple[str, ...] = ()
    discovery_questions: tuple[str, ...] = ()


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, on whose behalf, and what the prospect must be told about the call."""

    name: str
    company: str
    callback_number: str
    records_calls: bool = False


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
    summary_written_by: SummaryAuthor | None = None
    callback_at: datetime | None = None  # UTC
    meeting_id: UUID | None = None  # the booking behind scheduled_meeting


class FinishedCall(msgspec.Struct, frozen=True, kw_only=True):
    """What a summary is written from: who, the words, how it ended, what the tools booked."""

    lead: LeadProfile
    turns: tuple[Turn, ...]
    ended_by: EndedBy
    started_at: datetime
    meeting_time: datetime | None = None
    meeting_id: UUID | None = None  # the booking book_meeting made
    calendar_trouble: bool = False  # the calendar could not be reached during the call
    callback_at: datetime | None = None  # UTC

    @property
    def had_conversation(self) -> bool:
        return any(turn.role == "prospect" for turn in self.turns)


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


_TITLES = {"mr": "Mr.", "mrs": "Mrs.", "ms": "Ms.", "dr": "Dr.", "prof": "Prof."}
# The greeting is said aloud and is the model's own first line in its context: a "name"
# longer than any real one is not read out, so a sheet cannot put words in the agent's mouth.
SPOKEN_NAME_LIMIT = 40


def addressed_as(contact_name: str) -> str | None:
    """How the agent addresses the contact: a first name, or a title with the surname.

    "Dr. Maria Ortiz" is Dr. Ortiz, not "Dr."; a title alone names nobody.
    """
    words = plain_text(contact_name).split()
    if not words:
        return None
    title = _TITLES.get(words[0].casefold().rstrip("."))
    if title is None:
        name = words[0]
    else:
        # After the title, the first of several names is a given name; the rest is the surname.
        surname = " ".join(words[2:] if len(words) > 2 else words[1:])
        name = f"{title} {surname}" if surname else ""
    return name if 0 < len(name) <= SPOKEN_NAME_LIMIT else None


def greeting(agent: Agent, lead: LeadProfile) -> str:
    """The disclosure, spoken before any model runs: who, for whom, automated, recorded
    when it is, and how to opt out. Its first sentence carries all but the opt-out."""
    name = addressed_as(lead.contact_name)
    hello = f"Hi {name}," if name else "Hi,"
    recorded = ", on a recorded line" if agent.records_calls else ""
    return (
        f"{hello} this is {agent.name}, an automated assistant calling on behalf of "
        f"{agent.company}{recorded}. If you would rather not get these calls, just say stop "
        "and I will remove your number."
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


def lead_zone(lead: LeadProfile) -> ZoneInfo:
    """The lead's first time zone, or UTC when none is known."""
    return _zone(lead.time_zones[0] if lead.time_zones else None)


def local_time_text(moment: datetime, *, year: bool = False) -> str:
    """A time as it is said: "Thursday 5 March at 2:00 PM"."""
    day = f"{moment:%A} {moment.day} {moment:%B}" + (f" {moment.year}" if year else "")
    return f"{day} at {_clock_text(moment)}"


def _clock_text(moment: datetime) -> str:
    return moment.strftime("%I:%M %p").lstrip("0")


def _offset_text(moment: datetime) -> str:
    offset = moment.strftime("%z")  # "-0800"
    return f"UTC{offset[:3]}:{offset[3:]}"


def _day_text(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def date_lines(now: datetime, zone: ZoneInfo) -> list[str]:
    """Today, tomorrow and the time now, where the prospect is: the model resolves "tomorrow
    at 10" from these, and the prospect's today may not be UTC's."""
    local = now.astimezone(zone)
    known = zone.key != "UTC"
    where = zone.key if known else "UTC, as their time zone is not known"
    tomorrow_noon = datetime.combine(local.date() + timedelta(days=1), time(12), tzinfo=zone)
    lines = [
        f"Today, where the prospect is, is {_day_text(local)}; their local time is now "
        f"{_clock_text(local)} ({where}, {_offset_text(local)}).",
        f"Tomorrow for them is {_day_text(tomorrow_noon)}. Work out every day and time they "
        "mention (tomorrow, Tuesday afternoon, in an hour) from their date and time.",
    ]
    if tomorrow_noon.utcoffset() != local.utcoffset():
        lines.append(
            f"Their clocks change before tomorrow: from then on they are at "
            f"{_offset_text(tomorrow_noon)}."
        )
    return lines


def system_prompt(agent: Agent, lead: LeadProfile, playbook: Playbook, now: datetime) -> str:
    """The real model's instructions: who it is, the lead as quoted data, their date and
    time, the playbook, the rules, the tools."""
    lines = [
        f"You are {agent.name}, an automated sales assistant phoning on behalf of "
        f"{agent.company}. You have already greeted the prospect, said you are automated, "
        + ("told them the call is recorded, " if agent.records_calls else "")
        + "and told them they can say stop to be removed.",
        "You are speaking with the contact in the lead record below, about their business: "
        "use what it says about them (their challenges, when they like to be called) to make "
        "the conversation theirs.",
        *lead_record_lines(lead),
        *date_lines(now, lead_zone(lead)),
        f"What we offer them: {playbook.value_proposition}.",
        "Discovery questions to ask: " + " ".join(playbook.discovery_questions),
        "Objections you may hear: " + " ".join(playbook.objections),
        "Keep every reply to one or two short spoken sentences, no lists or formatting.",
        "Flow: ask one discovery question, pitch briefly, then propose a short meeting: call "
        "check_availability and offer the times it gives, in its words (if they named a day "
        "and time, pass it as `around`). Never offer a time it did not give.",
        "When they choose one, call book_meeting with its slot token, then read the day and "
        "time back to them, and with whom. If it was just taken, offer the new times. If "
        "the calendar is unavailable, say you will follow up by email with some times. A "
        "meeting exists only once book_meeting has booked it.",
        "If they ask to be called back at another time, call schedule_callback with that "
        "time as their local date and time, confirm it back to them, then wrap up.",
        "If they ask to stop or to be removed, call opt_out at once.",
        "If you reach a voicemail, leave a short message asking them to call back at "
        f"{agent.callback_number}, then call end_call.",
        "Before ending any conversation call record_outcome, with a summary of two or three "
        "sentences: who you spoke with, what they need, how interested they are, and any "
        "meeting or callback with its day and time. Then say goodbye and call end_call.",
        "If a tool answers with an error, it did nothing: correct what the error names and "
        "call the tool again.",
    ]
    return "\n".join(lines)


def who_answered(verdicts: list[AnsweredBy]) -> AnsweredBy | None:
    """Who answered, from the carrier's facts (its machine detection first, then the
    answer): a machine or a fax, whichever says so, over a person; None: no fact at all."""
    return next((v for v in verdicts if v in NOT_A_PERSON), None) or next(iter(verdicts), None)


def agent_time_limit(limit_seconds: float, goodbye_seconds: float) -> float:
    """When the agent itself ends a call that Twilio will cut at `limit_seconds`: early
    enough for its goodbye to be heard, and never before half the call's time."""
    return max(limit_seconds - goodbye_seconds, limit_seconds / 2)


# What the prospect means ----------------------------------------------------------------

_CUES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    ("opt-out", ("stop calling", "take me off", "remove me", "do not call", "don't call")),
    ("voicemail", ("leave a message", "after the tone", "voicemail", "you've reached")),
    ("decline", ("not interested", "no thanks", "no, thanks", "no thank you")),
    # Not bare "busy": "we miss calls when it gets busy" is interest, not a brush-off.
    (
        "callback",
        (
            "call back",
            "call me back",
            "call us back",
            "try me later",
            "i'm busy",
            "i am busy",
            "busy right now",
        ),
    ),
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


def intents_in(text: str) -> set[Intent]:
    """Every intent the words carry: "send me some information and call back later" is both."""
    lowered = text.casefold().replace("\u2019", "'")
    found: set[Intent] = {intent for intent, cues in _CUES if any(cue in lowered for cue in cues)}
    strongest = classify(text)  # also the bare "Stop." and "Busy." no cue list holds
    return found | {strongest} if strongest != "neutral" else found


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


_IN_A_WHILE = re.compile(r"\bin (\d+|an?|one|two|three|four|a couple of) (minute|hour)s?\b")
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "a couple of": 2}
_LATER_TODAY = re.compile(r"\b(today|tonight|this (morning|afternoon|evening))\b")
_PARTS_OF_DAY = (("morning", 10), ("afternoon", 14), ("evening", 18), ("tonight", 18))


def callback_time_from(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When the prospect asked to be called back ("in an hour", "Tuesday afternoon",
    "tomorrow at 10"), as a local time in their zone; None if they named no time."""
    lowered = text.casefold()
    now = now.replace(second=0, microsecond=0)
    if "in half an hour" in lowered:
        return (now + timedelta(minutes=30)).astimezone(zone)
    if (match := _IN_A_WHILE.search(lowered)) is not None:
        count = int(match[1]) if match[1].isdigit() else _COUNTS[match[1]]
        # Added to the instant, not the wall clock: an hour is an hour across a clock change.
        delta = timedelta(hours=count) if match[2] == "hour" else timedelta(minutes=count)
        return (now + delta).astimezone(zone)
    local_now = now.astimezone(zone)
    day = next((index for index, name in enumerate(_DAYS) if name in lowered), None)
    if day is not None:
        days_ahead = (day - local_now.weekday()) % 7 or 7
    elif "tomorrow" in lowered:
        days_ahead = 1
    elif _LATER_TODAY.search(lowered):
        days_ahead = 0
    else:
        return None
    hour, minute = _hour_named(lowered)
    if hour is None:
        hour = next((h for part, h in _PARTS_OF_DAY if part in lowered), 10)
    date = local_now.date() + timedelta(days=days_ahead)
    moment = datetime(date.year, date.month, date.day, hour, minute, tzinfo=zone)
    return moment if moment > local_now else None


class CallbackTimeError(ValueError):
    """A callback time that cannot be booked; the message says why, for the model."""


def callback_instant(value: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The UTC instant of a callback given as a local date and time in the lead's zone.

    An offset, if the model adds one, is taken at its word. A local time the clocks skip
    (02:30 on the night summer time starts) is no time at all and is refused.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CallbackTimeError(
            f"{value!r} is not an ISO 8601 local date and time like 2026-03-10T14:00"
        ) from None
    local = parsed.astimezone(zone) if parsed.tzinfo else parsed.replace(tzinfo=zone)
    at = local.astimezone(ZoneInfo("UTC"))
    if parsed.tzinfo is None and at.astimezone(zone).replace(tzinfo=None) != parsed:
        raise CallbackTimeError(f"{value} does not exist in {zone.key}: the clocks skip it")
    now_there = f"it is now {local_time_text(now.astimezone(zone), year=True)} in {zone.key}"
    if at <= now:
        raise CallbackTimeError(f"{value} is in the past: {now_there}")
    if at > now + CALLBACK_HORIZON:
        days = CALLBACK_HORIZON.days
        raise CallbackTimeError(f"{value} is more than {days} days ahead: {now_there}")
    return at


def _zone(zone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")

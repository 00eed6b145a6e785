"""The simulated model's end-of-call summary: what Gemini is asked to write, written from
the transcript by rule, so a simulated campaign's results read like a real one's and
replay exactly.

Pure: the finished call in, the summary and its reading of the call out.
"""

from __future__ import annotations

import re

from libs.events.model import InterestLevel
from services.conversation.domain import (
    FinishedCall,
    Intent,
    Outcome,
    intents_in,
    lead_zone,
    local_time_text,
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# What the prospect says about their business, in their words: "We miss a lot of calls".
_ABOUT_THEM = re.compile(r"^(we|we're|we've|our)\b", re.IGNORECASE)
_THIRD_PERSON = {
    "we": "they", "we're": "they're", "we've": "they've", "our": "their", "ours": "theirs",
    "us": "them", "ourselves": "themselves",
}  # fmt: skip
_WORD = re.compile(r"\b(we're|we've|we|our|ours|us|ourselves)\b", re.IGNORECASE)
_MOST_SAID = 2  # sentences about their business kept, so the summary stays short
_ENDINGS = {
    "prospect-hung-up": "They hung up before the call was wrapped up.",
    "silence": "The line went quiet before the end.",
    "timeout": "The call reached its time limit.",
    "error": "The call broke off.",
}


def summarize_call(call: FinishedCall) -> Outcome:
    """Who, what they need, how interested, and any meeting or callback, in a few sentences;
    with the interest and next steps the words show, for a call no tool recorded."""
    lead, zone = call.lead, lead_zone(call.lead)
    said = [turn.text for turn in call.turns if turn.role == "prospect"]
    intents: set[Intent] = set().union(*(intents_in(text) for text in said))
    if call.ended_by == "voicemail" or "voicemail" in intents:
        message = (
            f"Reached the voicemail of {lead.business_name}; "
            "left a message with the callback number."
        )
        return Outcome(interest_level="low", next_steps="Retry later.", summary=message)
    kind = f" ({lead.business_type})" if lead.business_type != "Other" else ""
    sentences = [f"Spoke with {lead.contact_name or 'the owner'} of {lead.business_name}{kind}."]
    sentences += _about_them(said)
    interest, where_it_stands, next_steps = _reading(call, intents)
    sentences.append(where_it_stands)
    if call.callback_at is not None:
        callback = local_time_text(call.callback_at.astimezone(zone), year=True)
        sentences.append(f"Asked to be called back on {callback} ({zone.key}).")
    if (ending := _ENDINGS.get(call.ended_by)) is not None:
        sentences.append(ending)
    return Outcome(
        interest_level=interest,
        scheduled_meeting=call.meeting_time is not None,
        meeting_time=call.meeting_time,
        next_steps=next_steps,
        summary=" ".join(sentences),
    )


def _reading(call: FinishedCall, intents: set[Intent]) -> tuple[InterestLevel, str, str]:
    """The interest, a sentence on where things stand, and what the team should do next."""
    if "opt-out" in intents or call.ended_by == "opt-out":
        return "low", "Asked not to be called again; the number was removed.", ""
    if call.meeting_time is not None:
        meeting = local_time_text(call.meeting_time.astimezone(lead_zone(call.lead)), year=True)
        return "high", f"Interest is high: agreed to a demo on {meeting}.", "Hold the demo."
    if "decline" in intents:
        return "low", "Not interested.", ""
    if "lukewarm" in intents:
        return (
            "medium",
            "Interest is lukewarm: asked for information by email.",
            ("Send information by email."),
        )
    if call.callback_at is not None or "callback" in intents:
        return "medium", "Was busy at the time of the call.", ""
    if intents & {"accept", "maybe"}:
        return "medium", "Open to it, but no meeting was agreed.", "Follow up to agree a time."
    return "low", "Gave no firm answer.", "Retry later."


def _about_them(said: list[str]) -> list[str]:
    """The prospect's sentences about their business, retold in the third person."""
    retold = [
        _WORD.sub(_swap, sentence)
        for text in said
        for sentence in _SENTENCE_END.split(text.strip())
        if _ABOUT_THEM.match(sentence) and not intents_in(sentence)
    ]
    return [sentence[0].upper() + sentence[1:] for sentence in retold[:_MOST_SAID]]


def _swap(match: re.Match[str]) -> str:
    return _THIRD_PERSON[match[0].casefold()]

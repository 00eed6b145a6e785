"""The sales rules: cues, meeting times, the scripted policy, and the record of a call."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from libs.events import Turn
from services.conversation.domain import (
    Agent,
    Outcome,
    Reply,
    ToolCall,
    classify,
    greeting,
    meeting_time_from,
    parse_playbooks,
    playbook_for,
    system_prompt,
)
from services.conversation.records import fallback_outcome, with_summary
from services.conversation.service import BUNDLED_PLAYBOOKS
from services.conversation.simulation.policy import Conversation, next_reply
from tests.factories import lead_profile

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday
AGENT = Agent(name="Alex", company="Brightline Reception", callback_number="+1 555 010 0199")
PLAYBOOKS = parse_playbooks(tomllib.loads(BUNDLED_PLAYBOOKS.read_text()))
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Please stop calling me and take me off your list.", "opt-out"),
        ("Stop.", "opt-out"),
        ("Do not call this number again", "opt-out"),
        ("Hi, you've reached Rosa's. Please leave a message after the tone.", "voicemail"),
        ("Sorry, we are not interested. Thanks anyway.", "decline"),
        ("No thanks.", "decline"),
        ("I'm busy, call back later.", "callback"),
        ("Busy.", "callback"),
        ("Interesting. We do miss a lot of calls when it gets busy.", "neutral"),
        ("Can you send me some information by email?", "lukewarm"),
        ("Yes, that sounds good. Thursday at 10am works for me.", "accept"),
        ("Hmm, maybe.", "maybe"),
        ("Who is this?", "neutral"),
    ],
)
def test_prospect_words_are_read_by_cue(text: str, intent: str) -> None:
    assert classify(text) == intent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thursday at 10am works for me", datetime(2026, 3, 5, 10, tzinfo=NEW_YORK)),
        ("Tuesday at 2pm", datetime(2026, 3, 10, 14, tzinfo=NEW_YORK)),
        ("tomorrow at 3", datetime(2026, 3, 5, 15, tzinfo=NEW_YORK)),
        ("Wednesday at 9:30 am", datetime(2026, 3, 11, 9, 30, tzinfo=NEW_YORK)),
        ("sometime next week", None),
    ],
)
def test_a_named_day_and_hour_is_the_next_such_moment_in_the_leads_zone(text, expected) -> None:
    assert meeting_time_from(text, NOW, "America/New_York") == expected


def _reply(text: str, agent_lines: int) -> Reply:
    lead = lead_profile()
    return next_reply(
        Conversation(
            agent=AGENT,
            lead=lead,
            playbook=playbook_for(PLAYBOOKS, lead.business_type),
            agent_lines=agent_lines,
            prospect_text=text,
            now=NOW,
        )
    )


def test_the_policy_walks_discovery_pitch_and_proposal() -> None:
    discovery = _reply("Hello, Rosa speaking.", agent_lines=1)
    pitch = _reply("Okay, what is this about?", agent_lines=2)
    proposal = _reply("Hmm, maybe.", agent_lines=3)
    assert discovery.text.endswith("How many calls do you think you miss during the dinner rush?")
    assert "reservations" in pitch.text and "Rosa's Trattoria" in pitch.text
    assert "day and time" in proposal.text
    assert (discovery.tool_calls, pitch.tool_calls, proposal.tool_calls) == ((), (), ())


def test_accepting_a_time_books_it_records_high_interest_and_ends() -> None:
    reply = _reply("Yes, sounds good. Tuesday at 2pm works for me.", agent_lines=4)
    meeting = datetime(2026, 3, 10, 14, tzinfo=NEW_YORK).isoformat()
    assert reply.tool_calls == (
        ToolCall(name="schedule_meeting", arguments={"meeting_time": meeting}),
        ToolCall(
            name="record_outcome",
            arguments={
                "interest_level": "high",
                "scheduled_meeting": True,
                "meeting_time": meeting,
                "next_steps": "Demo call.",
            },
        ),
        ToolCall(name="end_call", arguments={"reason": "goodbye"}),
    )
    assert "Tuesday at 2:00 PM" in reply.text


def test_opt_out_calls_the_opt_out_tool_only() -> None:
    reply = _reply("Take me off your list.", agent_lines=1)
    assert reply.tool_calls == (ToolCall(name="opt_out", arguments={}),)


def test_a_voicemail_greeting_gets_the_callback_number_then_ends() -> None:
    reply = _reply("You have reached the voicemail of Rosa. Leave a message.", agent_lines=1)
    assert AGENT.callback_number in reply.text
    assert [call.name for call in reply.tool_calls] == ["record_outcome", "end_call"]


def test_the_greeting_discloses_who_for_whom_automated_and_how_to_stop() -> None:
    text = greeting(AGENT, lead_profile())
    assert text.startswith("Hi Rosa, this is Alex, an automated assistant calling on behalf of")
    assert "Brightline Reception" in text and "say stop" in text


def test_the_system_prompt_carries_the_lead_and_the_playbook() -> None:
    lead = lead_profile()
    prompt = system_prompt(AGENT, lead, playbook_for(PLAYBOOKS, "Restaurant"))
    for fact in ("Rosa's Trattoria", "Rosa Marino", "Restaurant", "small", "dinner rush",
                 "2pm-4pm", "America/New_York", "AI host"):  # fmt: skip
        assert fact in prompt


def test_unknown_business_types_use_the_fallback_playbook() -> None:
    assert playbook_for(PLAYBOOKS, "Circus") == PLAYBOOKS["Other"]


def test_without_a_tool_outcome_the_transcript_decides() -> None:
    said = [Turn(role="prospect", text="No thanks.", started_at=NOW, ended_at=NOW)]
    outcome = fallback_outcome(said, "goodbye")
    assert (outcome.interest_level, outcome.summary) == (
        "low",
        "Call ended (goodbye) after 1 prospect turn.",
    )


def test_a_tool_outcome_gets_a_summary_built_from_it() -> None:
    said = [Turn(role="prospect", text="Yes", started_at=NOW, ended_at=NOW)]
    meeting = datetime(2026, 3, 5, 10, tzinfo=NEW_YORK)
    outcome = Outcome(
        interest_level="high", scheduled_meeting=True, meeting_time=meeting, next_steps="Demo call."
    )
    assert with_summary(outcome, said, "goodbye").summary == (
        "Call ended (goodbye) after 1 prospect turn. Interest high. "
        "Meeting booked for 2026-03-05T10:00-05:00. Demo call."
    )

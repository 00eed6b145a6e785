"""The sales rules: cues, meeting and callback times, the scripted policy."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.conversation.domain import (
    Agent,
    Reply,
    ToolCall,
    callback_time_from,
    classify,
    meeting_time_from,
    parse_playbooks,
    playbook_for,
)
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
        ("Can you call me back in an hour?", "callback"),
        ("Call back Tuesday afternoon, I am with a customer.", "callback"),
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call me back in an hour", datetime(2026, 3, 4, 11, 30, tzinfo=NEW_YORK)),
        ("try me later, in 20 minutes", datetime(2026, 3, 4, 10, 50, tzinfo=NEW_YORK)),
        ("in half an hour please", datetime(2026, 3, 4, 11, tzinfo=NEW_YORK)),
        ("Call back Tuesday afternoon", datetime(2026, 3, 10, 14, tzinfo=NEW_YORK)),
        ("call me back tomorrow at 10", datetime(2026, 3, 5, 10, tzinfo=NEW_YORK)),
        ("call me back this afternoon", datetime(2026, 3, 4, 14, tzinfo=NEW_YORK)),
        ("Wednesday morning", datetime(2026, 3, 11, 10, tzinfo=NEW_YORK)),  # today is Wednesday
        ("call back later", None),
    ],
)
def test_a_callback_time_the_prospect_names_is_local_to_them(text, expected) -> None:
    assert callback_time_from(text, NOW, NEW_YORK) == expected  # NOW is 10:30 in New York


def test_in_an_hour_is_an_hour_across_a_clock_change() -> None:
    before_the_change = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST
    at = callback_time_from("call me back in an hour", before_the_change, NEW_YORK)
    assert at is not None
    assert at - before_the_change == timedelta(hours=1)
    assert (at.hour, at.minute, at.utcoffset()) == (3, 30, timedelta(hours=-4))  # 03:30 EDT


def _reply(text: str, agent_lines: int, now: datetime = NOW) -> Reply:
    lead = lead_profile()
    return next_reply(
        Conversation(
            agent=AGENT,
            lead=lead,
            playbook=playbook_for(PLAYBOOKS, lead.business_type),
            agent_lines=agent_lines,
            prospect_text=text,
            now=now,
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


def test_unknown_business_types_use_the_fallback_playbook() -> None:
    assert playbook_for(PLAYBOOKS, "Circus") == PLAYBOOKS["Other"]


@pytest.mark.parametrize(
    ("said", "now", "spoken", "booked"),
    [
        ("I'm busy, call me back in an hour.", NOW, "Wednesday 4 March at 11:30 AM",
         "2026-03-04T11:30"),
        ("Call back Tuesday afternoon please.", NOW, "Tuesday 10 March at 2:00 PM",
         "2026-03-10T14:00"),
        # No time named: their best hours (2pm-4pm) on the next weekday, Friday -> Monday.
        ("Busy right now.", datetime(2026, 3, 6, 15, tzinfo=UTC), "Monday 9 March at 2:00 PM",
         "2026-03-09T14:00"),
    ],
)  # fmt: skip
def test_asked_for_a_callback_the_policy_books_it_and_wraps_up(said, now, spoken, booked) -> None:
    reply = _reply(said, agent_lines=2, now=now)
    assert f"call you back on {spoken}" in reply.text
    assert reply.tool_calls == (
        ToolCall(name="schedule_callback", arguments={"callback_time": booked}),
        ToolCall(
            name="record_outcome",
            arguments={"interest_level": "medium", "notes": "Asked to be called back."},
        ),
        ToolCall(name="end_call", arguments={"reason": "goodbye"}),
    )

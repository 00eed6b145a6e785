"""The sales rules: cues, meeting and callback times, the scripted policy."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any
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


def _reply(
    text: str,
    agent_lines: int,
    now: datetime = NOW,
    calendar: dict[str, Any] | None = None,
    offered: tuple[dict[str, Any], ...] = (),
) -> Reply:
    lead = lead_profile()
    return next_reply(
        Conversation(
            agent=AGENT,
            lead=lead,
            playbook=playbook_for(PLAYBOOKS, lead.business_type),
            agent_lines=agent_lines,
            prospect_text=text,
            now=now,
            calendar=calendar,
            offered=offered,
        )
    )


SLOTS = tuple(
    {"slot": f"slot-{n}", "time": f"2026-03-0{4 + n}T14:15-05:00", "say": say, "with": "Jordan Lee"}
    for n, say in enumerate(
        ("Thursday 5 March at 2:15 PM EST", "Friday 6 March at 2:15 PM EST", "Saturday"), start=1
    )
)


def test_the_policy_walks_discovery_pitch_and_proposal() -> None:
    discovery = _reply("Hello, Rosa speaking.", agent_lines=1)
    pitch = _reply("Okay, what is this about?", agent_lines=2)
    proposal = _reply("Hmm, maybe.", agent_lines=3)
    assert discovery.text.endswith("How many calls do you think you miss during the dinner rush?")
    assert "reservations" in pitch.text and "Rosa's Trattoria" in pitch.text
    assert (discovery.tool_calls, pitch.tool_calls) == ((), ())
    # The proposal asks the calendar first; the times are spoken once they are in.
    assert proposal == Reply(
        text="", tool_calls=(ToolCall(name="check_availability", arguments={}),)
    )
    offer = _reply("Hmm, maybe.", agent_lines=3, calendar={"slots": list(SLOTS)})
    assert offer.text == (
        "Would you be open to a fifteen minute demo? I can do Thursday 5 March at 2:15 PM "
        "EST with Jordan Lee, Friday 6 March at 2:15 PM EST with Jordan Lee, or Saturday "
        "with Jordan Lee. Which suits you best?"
    )


def test_a_named_time_is_looked_up_and_booked_when_it_is_free() -> None:
    said = "Yes, sounds good. Thursday at 2:15pm works for me."
    asked = _reply(said, agent_lines=3)
    assert asked.tool_calls == (
        ToolCall(name="check_availability", arguments={"around": "2026-03-05T14:15"}),
    )
    free = _reply(said, agent_lines=3, calendar={"slots": list(SLOTS)})
    assert free == Reply(text="", tool_calls=(_booking("slot-1"),))


def test_the_time_chosen_by_its_place_is_booked_and_read_back() -> None:
    chosen = _reply("Yes, the second one works for me.", agent_lines=4, offered=SLOTS)
    assert chosen == Reply(text="", tool_calls=(_booking("slot-2"),))
    assert _reply("The last one works for me.", agent_lines=4, offered=SLOTS).tool_calls == (
        _booking("slot-3"),
    )
    booked = {
        "booked": True,
        "time": SLOTS[1]["time"],
        "say": SLOTS[1]["say"],
        "with": "Jordan Lee",
    }
    confirm = _reply("Yes, the second one works for me.", agent_lines=4, calendar=booked)
    assert confirm.text.startswith(
        "Wonderful, you are booked for Friday 6 March at 2:15 PM EST with Jordan Lee."
    )
    assert confirm.tool_calls == (
        ToolCall(
            name="record_outcome",
            arguments={
                "interest_level": "high",
                "scheduled_meeting": True,
                "meeting_time": SLOTS[1]["time"],
                "next_steps": "Demo with Jordan Lee on Friday 6 March at 2:15 PM EST.",
            },
        ),
        ToolCall(name="end_call", arguments={"reason": "goodbye"}),
    )


def test_a_time_just_taken_gets_the_new_times_and_a_dead_calendar_an_email() -> None:
    taken = {"booked": False, "error": "that time was just taken", "slots": list(SLOTS[:1])}
    again = _reply("The second one.", agent_lines=4, calendar=taken)
    assert again.text.startswith("Sorry, that time was just taken. I can also do Thursday")
    assert again.tool_calls == ()
    down = _reply("Yes.", agent_lines=4, calendar={"booked": False, "error": "unavailable"})
    assert "follow up by email" in down.text
    [outcome, end] = down.tool_calls
    assert outcome.arguments["next_steps"] == "Follow up by email with meeting times."
    assert end.name == "end_call"


def _booking(slot: str) -> ToolCall:
    return ToolCall(name="book_meeting", arguments={"slot": slot})


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

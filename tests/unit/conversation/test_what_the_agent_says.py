"""What the agent says and is told: the greeting a prospect hears first, and the date and
time the model works from."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import msgspec
import pytest

from libs.events import LeadProfile
from services.conversation.domain import (
    Agent,
    addressed_as,
    agent_time_limit,
    greeting,
    parse_playbooks,
    playbook_for,
    system_prompt,
)
from services.conversation.service import BUNDLED_PLAYBOOKS
from tests.factories import lead_profile

AGENT = Agent(name="Alex", company="Brightline Reception", callback_number="+1 415 200 7000")
PLAYBOOKS = parse_playbooks(tomllib.loads(BUNDLED_PLAYBOOKS.read_text()))
NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday


def lead(contact_name: str = "Rosa Marino", *zones: str) -> LeadProfile:
    profile = msgspec.structs.replace(lead_profile(), contact_name=contact_name)
    return msgspec.structs.replace(profile, time_zones=zones) if zones else profile


def prompt(for_lead: LeadProfile, now: datetime, agent: Agent = AGENT) -> str:
    return system_prompt(agent, for_lead, playbook_for(PLAYBOOKS, "Restaurant"), now)


def test_the_greeting_discloses_who_for_whom_automated_and_how_to_stop() -> None:
    text = greeting(AGENT, lead_profile())
    assert text.startswith(
        "Hi Rosa, this is Alex, an automated assistant calling on behalf of "
        "Brightline Reception. If you would rather not get these calls, just say stop"
    )
    assert "record" not in text


def test_with_recording_on_the_greetings_first_sentence_says_the_call_is_recorded() -> None:
    recording = msgspec.structs.replace(AGENT, records_calls=True)
    text = greeting(recording, lead_profile())
    first_sentence, second = text.split(". ", 1)
    assert first_sentence == (
        "Hi Rosa, this is Alex, an automated assistant calling on behalf of "
        "Brightline Reception, on a recorded line"
    )
    assert second.startswith("If you would rather not get these calls")
    assert "told them the call is recorded" in prompt(lead_profile(), NOW, recording)
    assert "recorded" not in prompt(lead_profile(), NOW)


@pytest.mark.parametrize(
    ("contact", "hello"),
    [
        ("Dr. Maria Ortiz", "Hi Dr. Ortiz, this is Alex"),
        ("Dr Maria Ortiz", "Hi Dr. Ortiz, this is Alex"),
        ("Dr.", "Hi, this is Alex"),
        ("dr", "Hi, this is Alex"),
        ("Mr. Smith", "Hi Mr. Smith, this is Alex"),
        ("Mrs Jane Smith", "Hi Mrs. Smith, this is Alex"),
        ("Ms. Lee", "Hi Ms. Lee, this is Alex"),
        ("Prof. Anna van der Berg", "Hi Prof. van der Berg, this is Alex"),
        ("Maria Ortiz", "Hi Maria, this is Alex"),
        ("", "Hi, this is Alex"),
    ],
)
def test_a_title_is_greeted_with_the_surname_and_never_alone(contact: str, hello: str) -> None:
    text = greeting(AGENT, lead(contact))
    assert text.startswith(hello + ", an automated assistant")
    assert "Hi Dr.," not in text and "Hi Dr," not in text


def test_addressed_as_keeps_a_plain_first_name() -> None:
    assert (addressed_as("Rosa Marino"), addressed_as("Dr. Ortiz"), addressed_as("Prof")) == (
        "Rosa",
        "Dr. Ortiz",
        None,
    )


def test_the_system_prompt_carries_the_lead_and_the_playbook() -> None:
    text = prompt(lead_profile(), NOW)
    for fact in ("Rosa's Trattoria", "Rosa Marino", "Restaurant", "small", "dinner rush",
                 "2pm-4pm", "America/New_York", "AI host", "schedule_callback"):  # fmt: skip
        assert fact in text


def test_the_prompt_gives_the_prospects_date_and_time() -> None:
    text = prompt(lead_profile(), NOW)
    assert (
        "Today, where the prospect is, is Wednesday 4 March 2026; their local time is now "
        "10:30 AM (America/New_York, UTC-05:00)."
    ) in text
    assert "Tomorrow for them is Thursday 5 March 2026." in text


def test_late_evening_in_los_angeles_is_still_today_there_though_utc_is_tomorrow() -> None:
    now = datetime(2026, 3, 5, 5, 30, tzinfo=UTC)  # Thursday in UTC, Wednesday 21:30 in LA
    text = prompt(lead("Rosa Marino", "America/Los_Angeles", "America/Denver"), now)
    assert (
        "Today, where the prospect is, is Wednesday 4 March 2026; their local time is now "
        "9:30 PM (America/Los_Angeles, UTC-08:00)."
    ) in text
    assert "Tomorrow for them is Thursday 5 March 2026." in text
    assert "Friday" not in text


@pytest.mark.parametrize(
    ("now", "today", "clock", "change"),
    [
        # The evening before: tomorrow is on summer time already.
        (datetime(2026, 3, 8, 2, 0, tzinfo=UTC), "Saturday 7 March 2026", "9:00 PM", True),
        (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "Sunday 8 March 2026", "1:30 AM", True),
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "Sunday 8 March 2026", "3:30 AM", False),
    ],
)
def test_the_prompt_follows_the_clocks_across_the_change_to_summer_time(
    now: datetime, today: str, clock: str, change: bool
) -> None:
    text = prompt(lead_profile(), now)
    offset = "UTC-04:00" if clock == "3:30 AM" else "UTC-05:00"
    assert f"is {today}; their local time is now {clock} (America/New_York, {offset})." in text
    said_change = "Their clocks change before tomorrow: from then on they are at UTC-04:00."
    assert (said_change in text) == change


def test_a_lead_with_no_known_zone_is_given_utc_and_told_so() -> None:
    text = prompt(msgspec.structs.replace(lead_profile(), time_zones=()), NOW)
    assert "3:30 PM (UTC, as their time zone is not known, UTC+00:00)" in text


@pytest.mark.parametrize(
    ("limit", "goodbye", "ends_at"), [(300, 10, 290), (30, 10, 20), (12, 10, 6), (2, 10, 1)]
)
def test_the_agent_ends_before_twilios_limit_with_time_for_its_goodbye(limit, goodbye, ends_at):
    assert agent_time_limit(limit, goodbye) == ends_at

"""Personas: a pure, deterministic choice that shows every kind over a sample-sized list."""

from collections import Counter

import pytest

from libs.simulation.personas import ANSWERING_KINDS, Persona, choose_persona

SEED = 7
# A sample-sized list, numbered as test lists usually are.
SAMPLE_NUMBERS = [f"+1202555{100 + index:04d}" for index in range(25)]
ALL_KINDS = {
    "no-answer",
    "busy",
    "voicemail",
    "interested",
    "lukewarm",
    "not-interested",
    "asks-to-be-removed",
    "carrier-failure",
}


def first_attempts(seed: int = SEED) -> dict[str, Persona]:
    return {number: choose_persona(seed, number, 1) for number in SAMPLE_NUMBERS}


def test_the_same_inputs_give_the_same_persona():
    first = choose_persona(SEED, "+12025550143", 2, contact_name="Rosa Marino")
    again = choose_persona(SEED, "+12025550143", 2, contact_name="Rosa Marino")
    assert first == again


def test_a_sample_sized_list_shows_every_kind():
    kinds = Counter(persona.kind for persona in first_attempts().values())
    assert set(kinds) == ALL_KINDS
    assert kinds["carrier-failure"] <= 3  # a rare event, not a third of the list


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_every_seed_shows_every_kind_on_consecutive_numbers(seed):
    assert {persona.kind for persona in first_attempts(seed).values()} == ALL_KINDS


def test_another_seed_gives_leads_other_personas():
    assert first_attempts(1) != first_attempts(2)


def test_some_leads_that_did_not_answer_pick_up_on_a_later_attempt():
    unreached = [n for n, p in first_attempts().items() if p.kind in ("busy", "no-answer")]
    later = {n: choose_persona(SEED, n, 3).kind for n in unreached}
    answered_later = [n for n, kind in later.items() if kind in ANSWERING_KINDS]
    still_unreached = [n for n, kind in later.items() if kind in ("busy", "no-answer")]
    assert answered_later, "retries would never pay off"
    assert still_unreached, "every lead answering on retry is not realistic either"


def test_answering_people_say_two_to_four_lines():
    for number in SAMPLE_NUMBERS:
        for attempt in (1, 2, 3):
            persona = choose_persona(SEED, number, attempt, contact_name="Rosa Marino")
            if persona.kind in ANSWERING_KINDS:
                assert 2 <= len(persona.lines) <= 4, persona
            elif persona.kind == "voicemail":
                assert len(persona.lines) == 1
            else:
                assert persona.lines == ()


CUES = {
    "asks-to-be-removed": ("stop calling", "take me off your list"),
    "not-interested": ("not interested",),
    "lukewarm": ("send me some information", "maybe"),
    # Interested: takes a time offered or named, or none of those and asks for an email.
    "interested": ("yes", "sounds good", "works for me", "send me some information"),
}


@pytest.mark.parametrize("kind", sorted(CUES))
def test_the_deciding_line_carries_the_cue_the_sales_policy_listens_for(kind):
    personas = [
        choose_persona(seed, number, 1, contact_name="Rosa Marino")
        for seed in range(4)
        for number in SAMPLE_NUMBERS
    ]
    lines = {persona.lines[-1].lower() for persona in personas if persona.kind == kind}
    assert lines
    for line in lines:
        assert any(cue in line for cue in CUES[kind]), line


def test_an_interested_prospect_picks_an_offered_time_names_one_or_declines_them():
    everyone = [choose_persona(seed, number, 1) for seed in range(4) for number in SAMPLE_NUMBERS]
    interested = [persona for persona in everyone if persona.kind == "interested"]
    days = ("monday", "tuesday", "wednesday", "thursday", "friday")
    ways = set()
    for persona in interested:
        last = persona.lines[-1].lower()
        if "second one" in last:
            ways.add("picks an offered time")
        elif any(day in last for day in days) and ("am" in last or "pm" in last):
            ways.add("names a day and time")
        elif "none of those times" in last:
            ways.add("declines the times")
        # Asked again (the time was just taken), they take the first one offered.
        assert persona.asked_to_choose("Sorry, that time was just taken. Which suits you best?")
        assert not persona.asked_to_choose("You are booked for Tuesday. Goodbye!")
    assert ways == {"picks an offered time", "names a day and time", "declines the times"}
    assert not any(
        p.asked_to_choose("Which suits you best?") for p in everyone if p not in interested
    )


def test_lines_use_the_contact_and_business_names():
    people = [
        choose_persona(SEED, number, 1, contact_name="Rosa Marino", business_name="Rosa's")
        for number in SAMPLE_NUMBERS
    ]
    voicemail = next(p for p in people if p.kind == "voicemail")
    assert "{" not in " ".join(line for p in people for line in p.lines)
    assert "Rosa" in voicemail.lines[0]


def test_voicemail_is_answered_by_a_machine_and_failures_never_ring():
    people = {p.kind: p for p in first_attempts().values()}
    assert people["voicemail"].answered_by_machine and people["voicemail"].answers
    assert not people["busy"].answers and not people["no-answer"].answers
    assert people["carrier-failure"].ring_seconds == 0.0


def test_the_default_simulated_voice_is_mu_law_sized_to_the_text():
    from services.telephony.simulation.voice import simulated_voice

    short = simulated_voice("Hello?", 1)
    long = simulated_voice("Yes, that sounds good. Thursday at ten in the morning works for me.", 1)
    assert 0 < len(short) < len(long)
    assert set(short) != {0xFF}  # not silence

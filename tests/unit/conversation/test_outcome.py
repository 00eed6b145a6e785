"""The outcome a finished call records: who wrote its summary, what the next step is, and
what the simulated model writes from a transcript."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from libs.events import Turn
from services.conversation.domain import FOLLOW_UP_BY_EMAIL, EndedBy, FinishedCall, Outcome
from services.conversation.records import final_outcome
from services.conversation.simulation.summary import summarize_call
from tests.factories import MEETING_ID, lead_profile

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # Wednesday 10:30 in New York
NEW_YORK = ZoneInfo("America/New_York")


def said(*lines: str) -> tuple[Turn, ...]:
    """Agent and prospect taking turns, the agent first, a few seconds each."""
    turns = []
    for index, text in enumerate(("Hi Rosa, this is Alex.", *lines)):
        at = NOW + timedelta(seconds=5 * index)
        role = "agent" if index % 2 == 0 else "prospect"
        turns.append(Turn(role=role, text=text, started_at=at, ended_at=at))
    return tuple(turns)


def finished(
    turns: tuple[Turn, ...], ended_by: EndedBy = "goodbye", **booked: object
) -> FinishedCall:
    return FinishedCall(
        lead=lead_profile(), turns=turns, ended_by=ended_by, started_at=NOW, **booked
    )


INTERESTED = said(
    "Hello, Rosa speaking.",
    "Thanks for taking the call. How many calls do you miss in the dinner rush?",
    "Interesting. We do miss a lot of calls when it gets busy.",
    "Would a demo this week suit you?",
    "Yes, that sounds good. Thursday at 10am works for me.",
)
THURSDAY_TEN = datetime(2026, 3, 5, 10, tzinfo=NEW_YORK)


def test_the_simulated_model_summarises_who_what_they_need_and_the_meeting():
    call = finished(INTERESTED, meeting_time=THURSDAY_TEN)
    recorded = Outcome(interest_level="high", scheduled_meeting=True, meeting_time=THURSDAY_TEN)

    outcome, source = final_outcome(call, recorded=recorded, reading=summarize_call(call))

    assert (source, outcome.summary_written_by, outcome.interest_level) == ("tool", "model", "high")
    assert outcome.summary == (
        "Spoke with Rosa Marino of Rosa's Trattoria (Restaurant). "
        "They do miss a lot of calls when it gets busy. "
        "Interest is high: agreed to a demo on Thursday 5 March 2026 at 10:00 AM."
    )


@pytest.mark.parametrize("claimed_by", ["record_outcome", "reading"])
def test_a_meeting_no_schedule_meeting_booked_is_never_recorded(claimed_by):
    call = finished(said("Hello, Rosa speaking.", "We'll see."))  # nothing was booked
    claim = Outcome(
        interest_level="high",
        scheduled_meeting=True,
        meeting_time=THURSDAY_TEN,
        summary="Rosa booked a demo for Thursday at 10.",
    )
    recorded, reading = (claim, None) if claimed_by == "record_outcome" else (None, claim)

    outcome, _ = final_outcome(call, recorded=recorded, reading=reading)

    assert (outcome.scheduled_meeting, outcome.meeting_time) == (False, None)


def test_the_summary_the_model_gave_record_outcome_is_kept():
    call = finished(INTERESTED, meeting_time=THURSDAY_TEN)
    written = "Rosa misses dinner-rush calls; demo booked for Thursday 10 AM."
    recorded = Outcome(interest_level="high", summary=written)

    outcome, _ = final_outcome(call, recorded=recorded, reading=None)

    assert (outcome.summary, outcome.summary_written_by) == (written, "model")


def test_when_no_model_could_summarise_the_template_says_it_is_automatic():
    call = finished(INTERESTED, meeting_time=THURSDAY_TEN, meeting_id=MEETING_ID)
    recorded = Outcome(
        interest_level="high",
        scheduled_meeting=True,
        meeting_time=THURSDAY_TEN,
        next_steps="Demo call.",
    )

    outcome, source = final_outcome(call, recorded=recorded, reading=None)

    assert (source, outcome.summary_written_by) == ("tool", "template")
    assert outcome.summary == (
        "Automatic summary (no model summary was available): Call ended (goodbye) after "
        "3 prospect turns. Interest high. Meeting booked for 2026-03-05T10:00-05:00. Demo call."
    )


def test_a_call_no_tool_recorded_takes_the_models_reading():
    call = finished(said("Hello, Rosa speaking.", "Sorry, who?", "No thanks."), "prospect-hung-up")

    outcome, source = final_outcome(call, recorded=None, reading=summarize_call(call))

    assert (source, outcome.interest_level, outcome.summary_written_by) == (
        "summary",
        "low",
        "model",
    )
    assert outcome.summary.endswith("Not interested. They hung up before the call was wrapped up.")


def test_without_any_model_the_cue_words_decide_and_the_template_is_labelled():
    call = finished(said("Hello?", "No thanks."))
    outcome, source = final_outcome(call, recorded=None, reading=None)
    assert (source, outcome.interest_level, outcome.summary_written_by) == (
        "fallback",
        "low",
        "template",
    )
    assert outcome.summary.startswith("Automatic summary (no model summary was available):")


def test_an_opt_out_keeps_its_low_interest_whatever_the_model_reads():
    call = finished(said("Please take me off your list."), "opt-out")
    reading = Outcome(interest_level="medium", summary="Rosa asked to be removed.")
    outcome, source = final_outcome(call, recorded=None, reading=reading)
    assert (source, outcome.interest_level, outcome.notes) == (
        "fallback",
        "low",
        "Asked not to be called.",
    )
    assert (outcome.summary, outcome.summary_written_by) == ("Rosa asked to be removed.", "model")


TUESDAY_AFTERNOON = datetime(2026, 3, 10, 14, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.mark.parametrize(
    ("next_steps", "expected"),
    [
        ("", "Call back Tuesday 10 March 2026 at 2:00 PM (America/New_York)."),
        (
            "Send the price list first.",
            "Call back Tuesday 10 March 2026 at 2:00 PM (America/New_York). "
            "Send the price list first.",
        ),
        ("Call back on Tuesday.", "Call back Tuesday 10 March 2026 at 2:00 PM (America/New_York)."),
    ],
)
def test_a_callback_is_recorded_in_utc_and_leads_the_next_steps(next_steps, expected):
    turns = said("I'm busy, call me back Tuesday afternoon.")
    call = finished(turns, callback_at=TUESDAY_AFTERNOON)
    recorded = Outcome(interest_level="medium", next_steps=next_steps)

    outcome, _ = final_outcome(call, recorded=recorded, reading=summarize_call(call))

    assert outcome.callback_at == TUESDAY_AFTERNOON
    assert outcome.callback_at.utcoffset() == timedelta(0)
    assert outcome.next_steps == expected
    assert outcome.summary.endswith(
        "Was busy at the time of the call. "
        "Asked to be called back on Tuesday 10 March 2026 at 2:00 PM (America/New_York)."
    )


def test_a_fax_records_low_interest_and_says_the_number_is_a_fax():
    outcome, source = final_outcome(finished((), "fax"), recorded=None, reading=None)
    assert (source, outcome.interest_level, outcome.summary_written_by) == (
        "fallback",
        "low",
        "template",
    )
    assert "fax" in outcome.next_steps
    assert outcome.summary == (
        "Automatic summary: a fax machine answered, so the agent hung up without speaking."
    )


def test_the_simulated_summary_of_a_lukewarm_prospect_who_wants_a_callback():
    turns = said(
        "Yes, hello?",
        "Thanks. How do you handle the phone in the dinner rush?",
        "Hmm, maybe. We are pretty stretched at the moment.",
        "Would a demo suit you?",
        "Send me some information and call back later, please.",
    )
    monday = datetime(2026, 3, 9, 14, tzinfo=NEW_YORK).astimezone(UTC)
    reading = summarize_call(finished(turns, callback_at=monday))
    assert reading.summary == (
        "Spoke with Rosa Marino of Rosa's Trattoria (Restaurant). "
        "They are pretty stretched at the moment. "
        "Interest is lukewarm: asked for information by email. "
        "Asked to be called back on Monday 9 March 2026 at 2:00 PM (America/New_York)."
    )
    assert (reading.interest_level, reading.next_steps) == ("medium", "Send information by email.")


def test_a_meeting_without_a_booking_is_none_and_a_failed_calendar_says_email():
    # The model's word alone (and a time with no booking behind it) books nothing.
    recorded = Outcome(interest_level="high", scheduled_meeting=True, meeting_time=THURSDAY_TEN)
    outcome, _ = final_outcome(
        finished(INTERESTED, meeting_time=THURSDAY_TEN), recorded=recorded, reading=None
    )
    assert (outcome.scheduled_meeting, outcome.meeting_id) == (False, None)
    booked, _ = final_outcome(
        finished(INTERESTED, meeting_time=THURSDAY_TEN, meeting_id=MEETING_ID),
        recorded=recorded,
        reading=None,
    )
    assert (booked.scheduled_meeting, booked.meeting_id) == (True, MEETING_ID)
    lost, _ = final_outcome(
        finished(INTERESTED, calendar_trouble=True),
        recorded=Outcome(interest_level="medium", next_steps="Send pricing."),
        reading=None,
    )
    assert lost.next_steps == f"{FOLLOW_UP_BY_EMAIL} Send pricing."

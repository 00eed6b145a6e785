"""A whole call through the real vendor adapters (Pipecat's Deepgram, Gemini and Cartesia
clients) against local fakes of their wire protocols, over a real Twilio media stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from libs.bus import EventBus
from libs.events import LeadOptedOut, OutcomeRecorded, TranscriptFinalized
from services.conversation.domain import greeting
from tests.integration.conversation.support import (
    ACCOUNT_SID,
    call_requested,
    clock_from,
    watching,
)
from tests.integration.conversation.vendor_fakes.gemini import function_call, text
from tests.integration.conversation.vendors import prospect, real_vendors, summary_answer
from tests.lead_records import lead_record_in

PROSPECT = [
    "Hello, Rosa speaking. What is this about?",
    "Yes, Thursday at 2:15pm works for me.",
]
PITCH = "We answer the phone when you are too busy. Could we talk for twenty minutes this week?"
BOOKED = "Wonderful, you are booked for Thursday at 2:15 PM."
GOODBYE = "Thank you Rosa, goodbye!"
MEETING = "2026-11-26T14:15:00-05:00"
OUTCOME = {
    "interest_level": "high",
    "scheduled_meeting": True,
    "meeting_time": MEETING,
    "next_steps": "Demo on Thursday",
    "notes": "Misses reservations in the dinner rush",
}
REPLIES: list[list[dict[str, Any]]] = [
    [text(PITCH)],
    [function_call("check_availability", around="2026-11-26T14:15")],
    [function_call("book_meeting", slot="slot-1")],  # the time they named was free
    [
        text(BOOKED + " "),
        text(GOODBYE),
        function_call("record_outcome", **OUTCOME),
        function_call("end_call", reason="goodbye"),
    ],
]
TUESDAY_BEFORE = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 in New York
WRITTEN = (
    "Rosa Marino of Rosa's Trattoria misses reservation calls in the dinner rush. "
    "Very interested: a demo is booked for Thursday at 10 AM."
)


async def test_a_call_through_the_vendors_books_a_meeting_and_hangs_up(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    async with (
        real_vendors(
            bus, REPLIES, summaries=[summary_answer(WRITTEN)], clock=clock_from(TUESDAY_BEFORE)
        ) as vendors,
        watching(bus, request.call_id) as events,
    ):
        heard = await prospect(vendors, request.call_id, PROSPECT).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)
        await vendors.service.twilio.changed.wait()

    # The greeting's audio arrives first, before the prospect has said anything.
    opening = greeting(vendors.service.runtime.agent, request.lead)
    assert heard.first_event == "media"
    assert vendors.cartesia.spoken()[0] == opening
    assert heard.agent_audio_bytes > 0
    assert vendors.cartesia.connections[0]["api_key"] == "cartesia-test-key"
    # The prospect's words reach the model, with the lead's context in its instructions.
    assert vendors.deepgram.transcripts == PROSPECT  # each answered a Finalize
    listen = vendors.deepgram.connections[0]
    assert listen["path"].startswith("/v1/listen?") and "encoding=linear16" in listen["path"]
    assert listen["authorization"] == "Token deepgram-test-key"
    assert vendors.gemini.paths[0] == "gemini-2.5-flash:streamGenerateContent"
    assert set(vendors.gemini.api_keys) == {"google-test-key"}
    instruction = vendors.gemini.system_instruction(0)
    for fact in ("Rosa Marino", "Rosa's Trattoria", "Missed reservations", "America/New_York"):
        assert fact in instruction
    assert PROSPECT[0] in vendors.gemini.contents_text(0)
    assert PROSPECT[1] in vendors.gemini.contents_text(1)
    # Each tool's result went back, in the order the model asked for them: the calendar's
    # free times (the one named first), then the booking to read back.
    responses = vendors.gemini.function_responses(-1)
    assert [r["name"] for r in responses] == [
        "check_availability",
        "book_meeting",
        "record_outcome",
        "end_call",
    ]
    [first, *_] = responses[0]["response"]["slots"]
    assert (first["slot"], first["time"], first["with"]) == (
        "slot-1",
        "2026-11-26T14:15-05:00",
        "Jordan Lee",
    )
    assert responses[1]["response"]["booked"] is True
    # What the model said was spoken, sentence by sentence, after the greeting.
    spoken = " ".join(vendors.cartesia.spoken()[1:])
    assert all(said in spoken for said in (PITCH, BOOKED, GOODBYE))
    # record_outcome produced the outcome, with the model's values.
    [outcome] = events.of(OutcomeRecorded)
    assert (outcome.source, outcome.interest_level, outcome.scheduled_meeting) == (
        "tool",
        "high",
        True,
    )
    assert outcome.meeting_time == datetime.fromisoformat(MEETING)  # stored in UTC
    assert (outcome.next_steps, outcome.notes) == (OUTCOME["next_steps"], OUTCOME["notes"])
    # The summary is Gemini's, written from the transcript once the call had ended.
    assert (outcome.conversation_summary, outcome.summary_written_by) == (WRITTEN, "model")
    [summary_request] = vendors.gemini.summary_requests
    asked = json.dumps(summary_request["contents"])
    assert all(line in asked for line in PROSPECT)
    [asked_text] = [part["text"] for part in summary_request["contents"][0]["parts"]]
    assert lead_record_in(asked_text)["contact_name"] == "Rosa Marino"
    assert "The agent booked a meeting for Thursday 26 November 2026 at 2:15 PM" in asked
    # end_call ended the stream and hung up through Twilio's REST API.
    assert heard.close_code == 1000
    assert vendors.service.twilio.hang_ups == [
        {
            "account": ACCOUNT_SID,
            "call": "CA" + "2" * 32 + ".json",
            "status": "completed",
            "authorization": "Basic ",
        }
    ]
    # The transcript holds both sides.
    [transcript] = events.of(TranscriptFinalized)
    assert transcript.ended_by == "goodbye"
    assert [t.text for t in transcript.turns if t.role == "prospect"] == PROSPECT
    assert [(t.role, t.text) for t in transcript.turns] == [
        ("agent", opening),
        ("prospect", PROSPECT[0]),
        ("agent", PITCH),
        ("prospect", PROSPECT[1]),
        ("agent", f"{BOOKED} {GOODBYE}"),
    ]


async def test_a_prospect_who_asks_to_be_removed_is_opted_out_through_the_model(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Please take me off your list."]
    replies = [[text("Of course, I have removed your number. Goodbye."), function_call("opt_out")]]
    written = "Rosa asked to be removed from our list; her number was removed."
    async with (
        real_vendors(bus, replies, summaries=[summary_answer(written, "medium")]) as vendors,
        watching(bus, request.call_id) as events,
    ):
        heard = await prospect(vendors, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded, LeadOptedOut)
        await vendors.service.twilio.changed.wait()

    assert heard.close_code == 1000
    assert len(vendors.gemini.requests) == 1  # no follow-up after opting out
    assert lines[0] in vendors.gemini.contents_text(0)
    [opt_out] = events.of(LeadOptedOut)
    assert (opt_out.phone_number, opt_out.source) == (request.lead.phone_number, "call")
    [transcript] = events.of(TranscriptFinalized)
    [outcome] = events.of(OutcomeRecorded)
    assert (transcript.ended_by, outcome.interest_level, outcome.source) == (
        "opt-out",
        "low",
        "fallback",
    )
    # Gemini wrote the summary; an opt-out's interest stays low whatever it read.
    assert (outcome.conversation_summary, outcome.summary_written_by) == (written, "model")
    assert [t.role for t in transcript.turns] == ["agent", "prospect", "agent"]
    assert "removed your number" in transcript.turns[-1].text
    assert len(vendors.service.twilio.hang_ups) == 1


async def test_an_outcome_the_model_gets_wrong_is_refused_and_the_model_corrects_it(bus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Yes, Thursday at 10am works for me."]
    replies = [
        [text(GOODBYE), function_call("record_outcome", interest_level="very high")],
        [
            function_call(
                "record_outcome",
                interest_level="high",
                next_steps="Demo on Thursday",
                summary=WRITTEN,
            )
        ],
        [function_call("end_call", reason="goodbye")],
    ]
    async with real_vendors(bus, replies) as vendors, watching(bus, request.call_id) as events:
        await prospect(vendors, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    # The refusal went back to the model, naming the field, and the model called again.
    assert len(vendors.gemini.requests) == 3
    refusal = vendors.gemini.contents_text(1)
    assert '"field": "interest_level"' in refusal and "very high" in refusal
    # Only the corrected outcome was published, in values every consumer can decode.
    [outcome] = events.of(OutcomeRecorded)
    assert (outcome.source, outcome.interest_level, outcome.next_steps) == (
        "tool",
        "high",
        "Demo on Thursday",
    )
    # The summary the model gave record_outcome is the one kept: nothing more was asked.
    assert (outcome.conversation_summary, outcome.summary_written_by) == (WRITTEN, "model")
    assert vendors.gemini.summary_requests == []
    [transcript] = events.of(TranscriptFinalized)
    assert transcript.ended_by == "goodbye"


async def test_an_outcome_the_model_never_corrects_is_left_to_the_summary(bus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Yes, Thursday at 10am works for me."]
    replies = [
        [text(GOODBYE), function_call("record_outcome", interest_level="very high")],
        [function_call("end_call", reason="goodbye")],
    ]
    async with (
        real_vendors(bus, replies, summaries=[SUMMARY]) as vendors,
        watching(bus, request.call_id) as events,
    ):
        await prospect(vendors, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    [outcome] = events.of(OutcomeRecorded)
    assert (outcome.source, outcome.interest_level) == ("summary", "medium")


SUMMARY = (
    '{"conversation_summary": "Interested in call handling, hung up before a time was set.",'
    ' "interest_level": "medium", "scheduled_meeting": false, "next_steps": "Call back Friday"}'
)


@pytest.mark.parametrize("answer", [SUMMARY, 503, "not json"], ids=["summary", "down", "garbled"])
async def test_a_call_without_a_recorded_outcome_is_summarised_by_the_model(bus, answer):
    request = call_requested()
    await bus.publish(request)
    lines = ["Hello, what is this about?", "Sorry, I have to run, call me ba"]
    replies = [[text(PITCH)]]  # the model answers but records nothing before the hang-up
    async with (
        real_vendors(bus, replies, summaries=[answer]) as vendors,
        watching(bus, request.call_id) as events,
    ):
        await prospect(vendors, request.call_id, lines, hang_up_during_line=1).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    [summary_request] = vendors.gemini.summary_requests
    assert lines[0] in json.dumps(summary_request["contents"])
    [outcome] = events.of(OutcomeRecorded)
    if answer == SUMMARY:
        assert (outcome.source, outcome.interest_level, outcome.next_steps) == (
            "summary",
            "medium",
            "Call back Friday",
        )
        assert outcome.conversation_summary.startswith("Interested in call handling")
        assert outcome.summary_written_by == "model"
    else:  # the vendor failed: the cue-word fallback stands, with the labelled template
        assert (outcome.source, outcome.summary_written_by) == ("fallback", "template")
        assert outcome.conversation_summary.startswith(
            "Automatic summary (no model summary was available): Call ended (prospect-hung-up)"
        )


WEDNESDAY_MORNING = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # 10:30 in New York


async def test_a_callback_the_prospect_asks_for_is_booked_through_the_model(bus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Sorry, I'm with a customer. Can you call me back tomorrow at 10?"]
    replies = [
        # The model first gets the day wrong; the refusal names the field and says why.
        [
            text("Of course, tomorrow at 10 then."),
            function_call("schedule_callback", callback_time="2026-03-03T10:00"),
        ],
        [function_call("schedule_callback", callback_time="2026-03-05T10:00")],
        [
            text("Talk to you then, goodbye!"),
            function_call("record_outcome", interest_level="medium", next_steps="Pitch the demo"),
        ],
        [function_call("end_call", reason="goodbye")],
    ]
    written = "Rosa was with a customer and asked to be called back tomorrow at 10 AM."
    async with (
        real_vendors(
            bus,
            replies,
            summaries=[summary_answer(written, "medium")],
            clock=clock_from(WEDNESDAY_MORNING),
        ) as vendors,
        watching(bus, request.call_id) as events,
    ):
        await prospect(vendors, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    # The model knew the prospect's date and time, so "tomorrow" was theirs.
    instruction = vendors.gemini.system_instruction(0)
    assert "Today, where the prospect is, is Wednesday 4 March 2026" in instruction
    assert "10:30 AM (America/New_York, UTC-05:00)" in instruction
    assert "schedule_callback" in json.dumps(vendors.gemini.requests[0]["tools"])
    refusal = vendors.gemini.contents_text(1)
    assert '"field": "callback_time"' in refusal and "is in the past" in refusal
    [outcome] = events.of(OutcomeRecorded)
    assert outcome.callback_at == datetime(2026, 3, 5, 10, tzinfo=ZoneInfo("America/New_York"))
    assert outcome.next_steps == (
        "Call back Thursday 5 March 2026 at 10:00 AM (America/New_York). Pitch the demo"
    )
    assert (outcome.conversation_summary, outcome.summary_written_by) == (written, "model")
    assert "The agent booked a callback for Thursday 5 March 2026 at 10:00 AM" in json.dumps(
        vendors.gemini.summary_requests[0]["contents"]
    )

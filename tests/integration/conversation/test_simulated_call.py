"""Whole calls over a real websocket: Twilio Media Streams in, events out, hang-up through
Twilio's REST API (a local fake). Simulated voices; Pipecat's VAD and turn model for real."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from libs.bus import EventBus
from libs.events import (
    CallAnswered,
    LeadOptedOut,
    MediaStreamStarted,
    MeetingBooked,
    OutcomeRecorded,
    TranscriptFinalized,
    history_of,
    subject_filter,
)
from services.conversation.calendar.desk import Booked, Party
from services.conversation.calendar.slots import LeadHours, Request
from services.conversation.domain import time_limit_message
from services.conversation.simulation.tts import CHUNK_SECONDS, SAMPLE_RATE
from tests.factories import lead_profile
from tests.integration.conversation.line import ProspectLine
from tests.integration.conversation.support import (
    ACCOUNT_SID,
    answered_by_machine,
    call_requested,
    clock_from,
    conversation_service,
    detected,
    watching,
)
from tests.support import stored_events

INTERESTED = [
    "Hello, Rosa speaking.",
    "Okay, I have a minute. What is this about?",
    "Yes, that sounds good. Thursday at 2:15pm works for me.",
]


async def test_an_interested_prospect_books_a_meeting_and_the_agent_hangs_up(bus: EventBus):
    request = call_requested(at=WEDNESDAY_MORNING)
    await bus.publish(request)
    service_context = conversation_service(bus, clock=clock_from(WEDNESDAY_MORNING))
    async with service_context as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, INTERESTED).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded, CallAnswered)
        await service.twilio.changed.wait()

    assert heard.first_event == "simulation"  # the greeting, before anything the prospect said
    assert "automated assistant" in heard.agent_lines[0] and "say stop" in heard.agent_lines[0]
    assert "recorded" not in heard.agent_lines[0]  # RECORD_CALLS is off by default
    assert heard.agent_audio_bytes > 0
    [outcome] = events.of(OutcomeRecorded)
    # The simulated model wrote the summary from what was said.
    assert outcome.summary_written_by == "model"
    assert outcome.conversation_summary.startswith(
        "Spoke with Rosa Marino of Rosa's Trattoria (Restaurant)."
    )
    assert "Interest is high: agreed to a demo on Thursday" in outcome.conversation_summary
    # The very time the prospect named was free: booked in the calendar, on the stream.
    thursday = outcome.meeting_time.astimezone(ZoneInfo("America/New_York"))
    assert (outcome.interest_level, outcome.scheduled_meeting, outcome.source) == (
        "high",
        True,
        "tool",
    )
    assert thursday == datetime(2026, 3, 5, 14, 15, tzinfo=ZoneInfo("America/New_York"))
    [booking] = await stored_events(bus, subject_filter(MeetingBooked))
    assert (booking.meeting_id, booking.starts_at) == (outcome.meeting_id, outcome.meeting_time)
    assert (booking.call_id, booking.rep_name) == (request.call_id, "Jordan Lee")
    [transcript] = events.of(TranscriptFinalized)
    roles = [turn.role for turn in transcript.turns]
    assert transcript.ended_by == "goodbye"
    assert [t.text for t in transcript.turns if t.role == "prospect"] == INTERESTED
    assert roles[0] == roles[-1] == "agent" and roles.count("agent") >= 3
    assert (
        "you are booked for Thursday 5 March at 2:15 PM EST with Jordan Lee"
        in transcript.turns[-1].text
    )
    # Each reply is timed from the prospect falling silent; the greeting answers no one.
    pairs = itertools.pairwise(transcript.turns)
    replies = [turn for before, turn in pairs if (before.role, turn.role) == ("prospect", "agent")]
    assert transcript.turns[0].response_latency_seconds is None
    assert replies and all(0 < (turn.response_latency_seconds or 0) < 5 for turn in replies)
    assert service.twilio.hang_ups == [
        {
            "account": ACCOUNT_SID,
            "call": "CA" + "2" * 32 + ".json",
            "status": "completed",
            "authorization": "Basic ",
        }
    ]
    [answered] = events.of(CallAnswered)
    assert answered.answered_by == "human"


async def test_the_agent_offers_free_times_and_books_the_one_chosen(bus: EventBus):
    request = call_requested(at=WEDNESDAY_MORNING)
    await bus.publish(request)
    lines = [
        "Hello, Rosa speaking.",
        "Okay, go on.",
        "Interesting, we do miss calls at lunch.",
        "Yes, the second one works for me.",
    ]
    service_context = conversation_service(bus, clock=clock_from(WEDNESDAY_MORNING))
    async with service_context as service, watching(bus, request.call_id) as events:
        # Someone else already has the first free time in the lead's hours.
        await service.http.get("/healthz")  # answered once the workers are up
        desk = service.runtime.desk
        assert desk is not None
        [taken, *_] = await desk.offer(
            Request(now=WEDNESDAY_MORNING, lead=LeadHours(zone=ZoneInfo("America/New_York")))
        )
        assert isinstance(await desk.book(taken, Party(zone="UTC"), WEDNESDAY_MORNING), Booked)
        heard = await ProspectLine(service.stream_url, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    offer = next(line for line in heard.agent_lines if "I can do" in line)
    spoken = [slot.split(" with ")[0] for slot in offer.split("I can do ")[1].split(", ")]
    assert len(spoken) == 3 and spoken[2].startswith("or ")
    [outcome] = events.of(OutcomeRecorded)
    assert outcome.scheduled_meeting and outcome.meeting_time > WEDNESDAY_MORNING
    local = outcome.meeting_time.astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%A} {local.day} {local:%B} at" in spoken[1]  # the second time offered
    booked = await stored_events(bus, subject_filter(MeetingBooked))
    [booking] = [b for b in booked if b.call_id == request.call_id]
    assert booking.slot_id != taken.slot_id
    assert booking.meeting_id == outcome.meeting_id
    assert "you are booked for" in " ".join(heard.agent_lines[-3:])


async def test_take_me_off_your_list_records_the_opt_out_and_ends_the_call(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Hello?", "Please take me off your list."]
    async with conversation_service(bus) as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded, LeadOptedOut)

    [opt_out] = events.of(LeadOptedOut)
    assert (opt_out.phone_number, opt_out.source, opt_out.call_id) == (
        request.lead.phone_number,
        "call",
        request.call_id,
    )
    assert "removed your number" in " ".join(heard.agent_lines[-2:])
    [transcript] = events.of(TranscriptFinalized)
    [outcome] = events.of(OutcomeRecorded)
    assert (transcript.ended_by, outcome.interest_level) == ("opt-out", "low")


async def test_a_prospect_who_hangs_up_mid_sentence_still_gets_a_record(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Hello, Rosa speaking.", "Look, I really do not have time for this today because"]
    async with conversation_service(bus) as service, watching(bus, request.call_id) as events:
        await ProspectLine(service.stream_url, request.call_id, lines, hang_up_during_line=1).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    [transcript] = events.of(TranscriptFinalized)
    [outcome] = events.of(OutcomeRecorded)
    assert transcript.ended_by == "prospect-hung-up"
    # The half sentence is a turn of its own only if VAD heard a pause inside it.
    prospect = [t.text for t in transcript.turns if t.role == "prospect"]
    assert prospect in (lines[:1], lines)
    assert transcript.turns[0].role == "agent"  # the greeting was spoken and recorded
    # No tool recorded an outcome: the simulated model read the transcript instead.
    assert (outcome.source, outcome.interest_level, outcome.summary_written_by) == (
        "summary",
        "low",
        "model",
    )
    assert outcome.conversation_summary.endswith("They hung up before the call was wrapped up.")


async def test_a_voicemail_gets_a_message_with_the_callback_number(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(answered_by_machine(request))
    async with conversation_service(bus) as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, []).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    assert service.runtime.agent.callback_number in heard.agent_lines[0]
    [transcript] = events.of(TranscriptFinalized)
    assert transcript.ended_by == "voicemail"
    assert events.of(CallAnswered) == []  # telephony reported it; not ours to repeat
    [outcome] = events.of(OutcomeRecorded)
    # Nobody spoke, so no model had anything to summarise: the template says so.
    assert (outcome.summary_written_by, outcome.interest_level) == ("template", "low")
    assert outcome.conversation_summary.startswith("Automatic summary: an answering machine")


async def test_a_fax_gets_no_pitch_the_agent_hangs_up_at_once(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(detected(request, "fax"))
    async with conversation_service(bus) as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, []).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)
        await service.twilio.changed.wait()

    assert (heard.agent_lines, heard.agent_audio_bytes) == ([], 0)  # not a sound to the fax
    assert [hang_up["status"] for hang_up in service.twilio.hang_ups] == ["completed"]
    [transcript] = events.of(TranscriptFinalized)
    assert (transcript.ended_by, transcript.turns) == ("fax", ())
    [outcome] = events.of(OutcomeRecorded)
    assert outcome.interest_level == "low"
    assert outcome.next_steps == "The number is a fax: find a voice number before calling again."
    assert outcome.conversation_summary == (
        "Automatic summary: a fax machine answered, so the agent hung up without speaking."
    )
    assert outcome.summary_written_by == "template"
    assert events.of(CallAnswered) == []


WEDNESDAY_MORNING = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # 10:30 in New York


async def test_a_prospect_who_asks_for_a_callback_gets_one_booked_in_their_time(bus: EventBus):
    request = call_requested(at=WEDNESDAY_MORNING)
    await bus.publish(request)
    lines = ["Hello, Rosa speaking.", "I'm busy right now, call me back tomorrow afternoon."]
    service_context = conversation_service(bus, clock=clock_from(WEDNESDAY_MORNING))
    async with service_context as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    said = " ".join(heard.agent_lines)
    assert "Of course, I will call you back on Thursday 5 March at 2:00 PM." in said
    [outcome] = events.of(OutcomeRecorded)
    thursday_two = datetime(2026, 3, 5, 14, tzinfo=ZoneInfo("America/New_York"))
    assert outcome.callback_at == thursday_two
    assert outcome.callback_at.utcoffset().total_seconds() == 0  # stored in UTC
    assert outcome.next_steps == "Call back Thursday 5 March 2026 at 2:00 PM (America/New_York)."
    assert (outcome.interest_level, outcome.scheduled_meeting) == ("medium", False)
    assert outcome.summary_written_by == "model"
    assert outcome.conversation_summary.endswith(
        "Asked to be called back on Thursday 5 March 2026 at 2:00 PM (America/New_York)."
    )
    [transcript] = events.of(TranscriptFinalized)
    assert transcript.ended_by == "goodbye"


async def test_a_doctor_is_greeted_by_title_and_surname_and_told_the_call_is_recorded(
    bus: EventBus,
):
    lead = msgspec.structs.replace(lead_profile(), contact_name="Dr. Maria Ortiz")
    request = call_requested(lead=lead)
    await bus.publish(request)
    lines = ["Hello?", "Sorry, we are not interested. Thanks anyway."]
    async with (
        conversation_service(bus, record_calls=True) as service,
        watching(bus, request.call_id) as events,
    ):
        heard = await ProspectLine(service.stream_url, request.call_id, lines).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    first_sentence = heard.agent_lines[0].split(". If you")[0]
    assert first_sentence == (
        "Hi Dr. Ortiz, this is Alex, an automated assistant calling on behalf of "
        "Brightline Reception, on a recorded line"
    )


@pytest.mark.parametrize(
    ("ended_by", "time_limit_seconds", "settings", "goodbye"),
    [
        ("timeout", 2, {}, "have to end the call"),
        ("silence", 300, {"silence_timeout_seconds": 1.5}, "line has gone quiet"),
    ],
)
async def test_the_time_limit_and_a_line_gone_quiet_end_the_call_politely(
    bus: EventBus, ended_by: str, time_limit_seconds: int, settings: dict, goodbye: str
):
    request = call_requested(time_limit_seconds=time_limit_seconds)
    await bus.publish(request)
    async with (
        conversation_service(bus, **settings) as service,
        watching(bus, request.call_id) as events,
    ):
        heard = await ProspectLine(service.stream_url, request.call_id, ["Hello?"]).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    assert goodbye in heard.agent_lines[-1]
    [transcript] = events.of(TranscriptFinalized)
    assert transcript.ended_by == ended_by


def full_length(text: str, pace: float) -> int:
    """Bytes of mu-law the simulated voice takes to say `text` at `pace` seconds a character."""
    return round(len(text) * pace / CHUNK_SECONDS) * round(CHUNK_SECONDS * SAMPLE_RATE)


async def test_the_time_limit_goodbye_is_heard_whole_before_twilio_cuts_the_call(bus: EventBus):
    twilio_limit, goodbye_before, pace = 8, 4.0, 0.01
    request = call_requested(time_limit_seconds=twilio_limit)
    await bus.publish(request)
    service_context = conversation_service(
        bus, goodbye_before_limit_seconds=goodbye_before, simulated_seconds_per_character=pace
    )
    async with service_context as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, ["Hello?"]).run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)
        await service.twilio.changed.wait()

    assert heard.agent_lines[-1] == time_limit_message()
    assert heard.audio_bytes_per_line[-1] >= full_length(time_limit_message(), pace)
    [transcript] = events.of(TranscriptFinalized)
    assert transcript.ended_by == "timeout"
    # The agent hung up after its own limit and before Twilio's.
    assert twilio_limit - goodbye_before <= transcript.duration_seconds < twilio_limit
    assert len(service.twilio.hang_ups) == 1


async def test_hello_over_the_greeting_does_not_cut_the_disclosure_short(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Hello?", "Sorry, we are not interested. Thanks anyway."]
    service_context = conversation_service(bus, simulated_seconds_per_character=0.02)
    async with service_context as service, watching(bus, request.call_id) as events:
        line = ProspectLine(service.stream_url, request.call_id, lines, wait_for_agent_first=False)
        await line.run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    [transcript] = events.of(TranscriptFinalized)
    assert transcript.turns[0].text.endswith("just say stop and I will remove your number.")
    [outcome] = events.of(OutcomeRecorded)
    assert (transcript.ended_by, outcome.interest_level) == ("goodbye", "low")


async def test_the_prospect_talking_over_the_agent_stops_its_speech(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    lines = ["Hello, Rosa speaking.", "Sorry, who did you say is calling?", "No thanks."]
    pace = 0.03  # seconds of speech per character: long enough to talk over
    service_context = conversation_service(bus, simulated_seconds_per_character=pace)
    async with service_context as service, watching(bus, request.call_id) as events:
        line = ProspectLine(service.stream_url, request.call_id, lines, barge_in_line=1)
        heard = await line.run()
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    greeting, interrupted = heard.audio_bytes_per_line[:2]
    assert greeting >= 0.9 * full_length(heard.agent_lines[0], pace)  # heard in full
    assert interrupted < 0.5 * full_length(heard.agent_lines[1], pace)  # cut short
    assert heard.clears >= 1  # Twilio told to drop what it had buffered


async def test_a_call_gets_one_media_stream_even_with_a_fresh_token(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(answered_by_machine(request))  # a voicemail: quickly over
    async with conversation_service(bus) as service, watching(bus, request.call_id) as events:
        await ProspectLine(service.stream_url, request.call_id, []).run()
        await events.wait_for(TranscriptFinalized)
        again = await ProspectLine(service.stream_url, request.call_id, []).run()

    assert again.close_code == 1008  # policy violation: the call already had its stream
    stored = await stored_events(bus, history_of("call", request.call_id))
    assert [type(e) for e in stored].count(TranscriptFinalized) == 1
    assert [type(e) for e in stored].count(MediaStreamStarted) == 1


async def test_an_unknown_call_is_refused(bus: EventBus):
    async with conversation_service(bus) as service:
        heard = await ProspectLine(service.stream_url, call_requested().call_id, []).run()
    assert heard.close_code == 4404

"""Nothing lost, nothing doubled: every answered call ends with exactly one transcript and
one outcome, whether its agent finished it, died mid-call, or never got its stream; and a
machine detected after the greeting turns the call into a voicemail."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid5

import pytest

from libs.bus import Delivery, EmbeddedNatsServer, EventBus
from libs.events import (
    AnswerClassified,
    CallCompleted,
    CallRequested,
    OutcomeRecorded,
    TranscriptFinalized,
    TurnRecorded,
    history_of,
    subject_for,
)
from services.conversation import records
from services.conversation.closing import close_record
from services.conversation.config import ConversationSettings
from services.conversation.domain import Outcome
from services.conversation.live import LiveCalls
from services.conversation.sweeper import Sweeper
from tests.integration.conversation.line import ProspectLine
from tests.integration.conversation.support import (
    AUTH_TOKEN,
    call_requested,
    conversation_service,
    detected,
    watching,
)
from tests.support import stored_events

ROOT = Path(__file__).parents[3]
QUICK_GRACE = {"outcome_grace_seconds": 0.5}
LINES = [
    "Hello, Rosa speaking.",
    "Okay, I have a minute. What is this about?",
    "Go on, I am listening.",
]


def carrier_completed(request: CallRequested, seconds: float = 42.0) -> CallCompleted:
    """Telephony's report that the carrier ended the call."""
    return CallCompleted(
        event_id=uuid5(request.call_id, "completed"),
        occurred_at=datetime.now(UTC),
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        duration_seconds=seconds,
    )


def classified(request: CallRequested, answered_by: str) -> AnswerClassified:
    return AnswerClassified(
        event_id=uuid5(request.call_id, "classified"),
        occurred_at=datetime.now(UTC),
        call_id=request.call_id,
        lead_id=request.lead_id,
        campaign_id=request.campaign_id,
        answered_by=answered_by,  # type: ignore[arg-type]
        detection_seconds=3.5,
    )


async def records_of(bus: EventBus, request: CallRequested) -> tuple[list, list]:
    stored = await stored_events(bus, history_of("call", request.call_id))
    transcripts = [e for e in stored if isinstance(e, TranscriptFinalized)]
    outcomes = [e for e in stored if isinstance(e, OutcomeRecorded)]
    return transcripts, outcomes


@contextlib.asynccontextmanager
async def conversation_process(nats_url: str, data_dir: Path) -> AsyncIterator[tuple[str, object]]:
    """`python -m services.conversation` as its own process, for a test to kill."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "API_TOKEN"))},
        "PYTHONPATH": str(ROOT),
        "NATS_URL": nats_url,
        "MODE": "simulation",
        "SIMULATION_AUTH_TOKEN": AUTH_TOKEN,
        "SIMULATED_SECONDS_PER_CHARACTER": "0.004",
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "LOG_FORMAT": "text",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.conversation",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    serving = asyncio.Event()
    log: list[str] = []

    async def drain() -> None:  # read on, so a full pipe never blocks its logging
        assert process.stderr is not None
        async for raw in process.stderr:
            log.append(raw.decode(errors="replace"))
            if "Uvicorn running on" in log[-1]:
                serving.set()

    reader = asyncio.create_task(drain())
    try:
        # Serving, or gone (its log then says why).
        waiting = asyncio.create_task(serving.wait())
        async with asyncio.timeout(120):
            await asyncio.wait({waiting, reader}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert serving.is_set(), "".join(log[-40:])
        yield f"ws://127.0.0.1:{port}/twilio/stream", process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def test_a_call_whose_agent_process_is_killed_ends_with_its_turns_and_a_fallback(
    bus: EventBus, nats_server: EmbeddedNatsServer, tmp_path: Path
):
    request = call_requested()
    await bus.publish(request)
    async with watching(bus, request.call_id) as events:
        async with conversation_process(nats_server.url, tmp_path) as (url, process):
            line = asyncio.create_task(ProspectLine(url, request.call_id, LINES).run())
            # The greeting and the prospect's first words are stored as they happen.
            await events.wait_until(
                lambda: {t.turn.role for t in events.of(TurnRecorded)} == {"agent", "prospect"}
            )
            process.kill()  # type: ignore[attr-defined]
            await process.wait()  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            await line  # the line went dead with the agent
        await bus.publish(carrier_completed(request))
        async with conversation_service(bus, **QUICK_GRACE):
            await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    turns = await stored_events(bus, subject_for(TurnRecorded, request.call_id))
    transcripts, outcomes = await records_of(bus, request)
    [transcript], [outcome] = transcripts, outcomes
    assert transcript.ended_by == "agent-lost"
    assert list(transcript.turns) == [e.turn for e in sorted(turns, key=lambda e: e.index)]
    assert transcript.turns[0].role == "agent" and transcript.turns[1].text == LINES[0]
    assert (outcome.source, outcome.failure, outcome.summary_written_by) == (
        "fallback",
        "agent-lost",
        "template",
    )
    assert "the agent was lost" in outcome.conversation_summary


@pytest.mark.parametrize(
    ("answered_by", "ended_by", "failure", "summary"),
    [
        ("human", "agent-lost", "agent-lost", "the agent was lost mid-call"),
        ("fax", "fax", None, "a fax machine answered"),
    ],
)
async def test_an_answered_call_that_never_got_its_stream_gets_the_fallback(
    bus: EventBus, answered_by: str, ended_by: str, failure: str | None, summary: str
):
    request = call_requested()
    await bus.publish_many([request, detected(request, answered_by), carrier_completed(request)])
    async with (
        watching(bus, request.call_id) as events,
        conversation_service(bus, **QUICK_GRACE),
    ):
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    [transcript], [outcome] = await records_of(bus, request)
    assert (transcript.ended_by, transcript.turns, transcript.duration_seconds) == (
        ended_by,
        (),
        42.0,
    )
    assert (outcome.source, outcome.failure) == ("fallback", failure)
    assert summary in outcome.conversation_summary


@pytest.mark.parametrize("order", ["together", "sweeper-first", "live-first"])
async def test_the_live_record_racing_the_sweeper_leaves_exactly_one(bus: EventBus, order: str):
    request = call_requested()
    completed = carrier_completed(request)
    await bus.publish_many([request, detected(request, "human")])
    stored = await bus.publish(completed)
    now = datetime.now(UTC)
    turn = records.turn_recorded(
        request, 0, records.Turn(role="agent", text="Hi", started_at=now, ended_at=now), now
    )
    await bus.publish(turn)
    sweeper = Sweeper(bus, ConversationSettings(outcome_grace_seconds=0), LiveCalls())
    # Stored a while ago by the stream's clock: the grace is over.
    delivery = Delivery(completed.subject, stored.seq, 1, stored_at=now - timedelta(minutes=5))

    async def live() -> None:
        await close_record(
            bus,
            records.transcript_finalized(request, [turn.turn], 40.0, now, "goodbye"),
            records.outcome_recorded(request, Outcome(interest_level="high"), "tool", now),
            retry_seconds=5,
            closer="the live call",
        )

    async def sweep() -> None:
        await sweeper.sweep(completed, delivery)

    if order == "together":
        await asyncio.gather(sweep(), live())
    else:
        first, second = (sweep, live) if order == "sweeper-first" else (live, sweep)
        await first()
        await second()

    [transcript], [outcome] = await records_of(bus, request)
    # One story: the transcript and the outcome come from the same closer.
    assert (transcript.ended_by == "agent-lost") is (outcome.failure == "agent-lost")
    if order == "sweeper-first":
        assert outcome.source == "fallback"
    if order == "live-first":
        assert (transcript.ended_by, outcome.source) == ("goodbye", "tool")


async def test_a_machine_detected_after_the_greeting_turns_the_call_into_a_voicemail(
    bus: EventBus,
):
    request = call_requested()
    await bus.publish(request)
    spoke = asyncio.Event()
    line = ProspectLine(
        "", request.call_id, ["Hello, you have reached Rosa."], on_say=lambda _: spoke.set()
    )
    # No grace: the carrier's end, reported while this process still carries the call,
    # must leave it to finish rather than sweep it.
    async with (
        conversation_service(bus, outcome_grace_seconds=0) as service,
        watching(bus, request.call_id) as events,
    ):
        line.url = service.stream_url
        running = asyncio.create_task(line.run())
        await spoke.wait()  # the greeting was heard whole: the pitch is under way
        await bus.publish_many([classified(request, "machine"), carrier_completed(request)])
        heard = await running
        await events.wait_for(TranscriptFinalized, OutcomeRecorded)

    assert "automated assistant" in heard.agent_lines[0]
    assert service.runtime.agent.callback_number in heard.agent_lines[-1]
    [transcript], [outcome] = await records_of(bus, request)
    assert transcript.ended_by == "voicemail"
    assert transcript.turns[-1].text.startswith("Hello, this is Alex")
    assert (outcome.failure, outcome.interest_level) == (None, "low")


async def test_a_machine_classified_before_the_stream_is_read_at_admission(bus: EventBus):
    request = call_requested()
    await bus.publish_many([request, classified(request, "machine")])
    async with conversation_service(bus) as service, watching(bus, request.call_id) as events:
        heard = await ProspectLine(service.stream_url, request.call_id, []).run()
        await events.wait_for(TranscriptFinalized)

    assert service.runtime.agent.callback_number in heard.agent_lines[0]
    [transcript], _ = await records_of(bus, request)
    assert transcript.ended_by == "voicemail"

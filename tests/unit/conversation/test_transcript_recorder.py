"""The transcript a call leaves, written down from the frames its context aggregators
announce turns with, run through Pipecat's own test pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMContextAssistantTurnFrame,
    LLMContextUserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import run_test

from libs.events import Turn
from services.conversation.processors.transcript_recorder import TranscriptRecorder

CALL_START = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
RECORDED_AT = CALL_START + timedelta(minutes=1)  # what the recorder's clock says
BOT_SPOKE_AT = 1_000.0  # wall-clock seconds, the clock of VAD timestamps
GREETING = "Hi Rosa, this is Alex, an automated assistant."


def at(seconds: float) -> str:
    return (CALL_START + timedelta(seconds=seconds)).isoformat()


def recorder(latencies: list[float] | None = None) -> TranscriptRecorder:
    return TranscriptRecorder(
        clock=lambda: RECORDED_AT,
        time_source=lambda: BOT_SPOKE_AT,
        on_latency=None if latencies is None else latencies.append,
    )


async def record(transcript: TranscriptRecorder, frames: list[Frame], **options) -> list[Frame]:
    # The two halves sit apart in a call's pipeline; here the frames pass both in turn.
    pipeline = Pipeline([transcript.prospect(), transcript.agent()])
    down, _ = await run_test(pipeline, frames_to_send=frames, **options)
    return list(down)


async def test_each_turn_is_recorded_and_each_reply_timed_from_the_prospect_falling_silent():
    latencies: list[float] = []
    transcript = recorder(latencies)
    frames = [
        LLMContextAssistantTurnFrame(text=GREETING, timestamp=at(0)),
        VADUserStartedSpeakingFrame(),
        VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=BOT_SPOKE_AT - 0.6),
        LLMContextUserTurnFrame(text="Hello, Rosa speaking.", timestamp=at(5)),
        BotStartedSpeakingFrame(),
        LLMContextAssistantTurnFrame(text="Thanks for taking the call.", timestamp=at(7)),
    ]

    passed = await record(transcript, frames)

    assert transcript.turns == [
        Turn(role="agent", text=GREETING, started_at=CALL_START, ended_at=RECORDED_AT),
        Turn(
            role="prospect",
            text="Hello, Rosa speaking.",
            started_at=CALL_START + timedelta(seconds=5),
            ended_at=RECORDED_AT,
        ),
        Turn(
            role="agent",
            text="Thanks for taking the call.",
            started_at=CALL_START + timedelta(seconds=7),
            ended_at=RECORDED_AT,
            response_latency_seconds=0.8,  # 0.6 s since VAD decided, 0.2 s of silence before
        ),
    ]
    assert latencies == [pytest.approx(0.8)]  # the load monitor hears of it too
    assert [type(frame) for frame in passed] == [type(frame) for frame in frames]


async def test_a_prospect_who_speaks_again_is_timed_from_their_last_silence():
    transcript = recorder()
    await record(
        transcript,
        [
            VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=BOT_SPOKE_AT - 5),
            VADUserStartedSpeakingFrame(),
            VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=BOT_SPOKE_AT - 1),
            BotStartedSpeakingFrame(),
            LLMContextAssistantTurnFrame(text="Of course.", timestamp=at(9)),
            BotStartedSpeakingFrame(),  # the agent goes on without the prospect in between
            LLMContextAssistantTurnFrame(text="And one more thing.", timestamp=at(12)),
        ],
    )

    assert [turn.response_latency_seconds for turn in transcript.turns] == [1.2, None]


async def test_turns_are_in_the_order_they_started_not_the_order_they_were_announced():
    transcript = recorder()
    await record(
        transcript,
        [
            LLMContextAssistantTurnFrame(text="Would Thursday suit you?", timestamp=at(20)),
            LLMContextUserTurnFrame(text="Sorry, who is this?", timestamp=at(18)),
            LLMContextUserTurnFrame(text="Stop.", timestamp=""),  # no start known: now
        ],
    )

    assert [(turn.role, turn.text) for turn in transcript.turns] == [
        ("prospect", "Sorry, who is this?"),
        ("agent", "Would Thursday suit you?"),
        ("prospect", "Stop."),
    ]
    assert transcript.turns[-1].started_at == RECORDED_AT


async def test_the_upstream_copies_of_announced_turns_are_not_recorded_again():
    transcript = recorder()
    frames = [
        LLMContextAssistantTurnFrame(text=GREETING, timestamp=at(0)),
        LLMContextUserTurnFrame(text="Hello?", timestamp=at(5)),
    ]

    await record(transcript, frames, frames_to_send_direction=FrameDirection.UPSTREAM)

    assert transcript.turns == []

"""The call's transcript, written down as the context aggregators announce each turn.

Two processors share one record, because no single place in the pipeline sees both
sides in time: the prospect's turns leave the user aggregator downstream (further down,
the output transport would hold them behind the agent's audio), and the agent's turns
leave the assistant aggregator, the last processor. The agent half also times each reply,
from the prospect falling silent to the agent's audio starting, as Pipecat's
UserBotLatencyObserver does.

Both halves run in direct mode: a turn announced just before an interruption or a
hang-up is recorded before that frame could drop it from a queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMContextAssistantTurnFrame,
    LLMContextUserTurnFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from libs.events import Turn


def _now() -> datetime:
    return datetime.now(UTC)


class TranscriptRecorder:
    """The turns of one call; place `prospect()` after the user aggregator and `agent()`
    after the assistant aggregator."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _now,
        time_source: Callable[[], float] = time.time,
        on_latency: Callable[[float], None] | None = None,
        on_turn: Callable[[int, Turn], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_turn = on_turn  # each turn as it is recorded, with its index in the call
        self._time = time_source  # the clock of VAD frame timestamps
        self._on_latency = on_latency
        self._turns: list[Turn] = []
        self._silent_since: float | None = None  # when the prospect last stopped speaking
        self._latency: float | None = None  # measured, waiting for the agent turn it belongs to
        self._prospect = _Tap(self._see_prospect_side)
        self._agent = _Tap(self._see_agent_side)

    @property
    def turns(self) -> list[Turn]:
        return sorted(self._turns, key=lambda turn: turn.started_at)

    def prospect(self) -> FrameProcessor:
        return self._prospect

    def agent(self) -> FrameProcessor:
        return self._agent

    def _see_prospect_side(self, frame: Frame) -> None:
        if not isinstance(frame, LLMContextUserTurnFrame):
            return
        self._record(
            Turn(
                role="prospect",
                text=frame.text,
                started_at=self._started(frame.timestamp),
                ended_at=self._clock(),
            )
        )

    def _see_agent_side(self, frame: Frame) -> None:
        if not isinstance(frame, LLMContextAssistantTurnFrame):
            self._time_reply(frame)
            return
        latency, self._latency = self._latency, None
        self._record(
            Turn(
                role="agent",
                text=frame.text,
                started_at=self._started(frame.timestamp),
                ended_at=self._clock(),
                response_latency_seconds=latency,
            )
        )

    def _record(self, turn: Turn) -> None:
        index = len(self._turns)
        self._turns.append(turn)
        if self._on_turn is not None:
            self._on_turn(index, turn)

    def _time_reply(self, frame: Frame) -> None:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._silent_since = None
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            # VAD decides only after stop_secs of silence: the prospect stopped that long ago.
            self._silent_since = frame.timestamp - frame.stop_secs
        elif isinstance(frame, BotStartedSpeakingFrame) and self._silent_since is not None:
            seconds = self._time() - self._silent_since
            self._silent_since = None
            self._latency = round(seconds, 3)  # only the latest reply counts
            if self._on_latency is not None:
                self._on_latency(seconds)

    def _started(self, timestamp: str) -> datetime:
        return _parse_timestamp(timestamp) or self._clock()


class _Tap(FrameProcessor):
    """Passes every frame on, showing each one going downstream to `see` first."""

    def __init__(self, see: Callable[[Frame], None]) -> None:
        super().__init__(enable_direct_mode=True)
        self._see = see

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self._see(frame)
        await self.push_frame(frame, direction)


def _parse_timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

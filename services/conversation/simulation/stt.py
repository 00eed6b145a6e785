"""Simulated speech-to-text: reports what the simulated prospect said when VAD hears them stop.

The words arrive beside the audio (ProspectSaid); the audio itself still drives VAD and
turn detection, so turn-taking runs exactly as with a real recogniser.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    TranscriptionFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.utils.time import time_now_iso8601

from services.conversation.simulation.serializer import PROSPECT_SAID_KEY


class SimulatedSTTService(STTService):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            settings=STTSettings(model=None, language=None),
            ttfs_p99_latency=0.0,  # the words are known the moment the audio ends
            **kwargs,  # type: ignore[arg-type]
        )
        self._heard: deque[str] = deque()

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        yield None  # the words come from the side channel, not from the audio

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)  # nothing to recognise: pass it on
            return
        await super().process_frame(frame, direction)
        if isinstance(frame, InputTransportMessageFrame):
            text = frame.message.get(PROSPECT_SAID_KEY) if isinstance(frame.message, dict) else None
            if text:
                self._heard.append(text)
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._heard:
            text = " ".join(self._heard)
            self._heard.clear()
            await self.push_frame(
                TranscriptionFrame(text, "prospect", time_now_iso8601(), finalized=True)
            )

"""Simulated text-to-speech: quiet audio as long as the sentence would take to say, and
an AgentSaid beside it so the simulated prospect knows what it heard."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import msgspec
import numpy as np
from pipecat.frames.frames import Frame, OutputTransportMessageUrgentFrame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from libs.simulation.protocol import AgentSaid, SimulationEnvelope

SAMPLE_RATE = 8000
SECONDS_PER_CHARACTER = 0.06  # about 170 words a minute
CHUNK_SECONDS = 0.2


def _quiet_noise(seconds: float) -> bytes:
    """Low-level noise (about -50 dBFS): audible as a line, not mistaken for speech."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 100).astype(np.int16).tobytes()


_NOISE = _quiet_noise(CHUNK_SECONDS)


class SimulatedTTSService(TTSService):
    def __init__(
        self,
        *,
        stream_sid: str,
        seconds_per_character: float = SECONDS_PER_CHARACTER,
        **kwargs: object,
    ) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=SAMPLE_RATE,
            settings=TTSSettings(model=None, voice=None, language=None),
            **kwargs,  # type: ignore[arg-type]
        )
        self._stream_sid = stream_sid
        self._seconds_per_character = seconds_per_character

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        envelope = SimulationEnvelope(
            event="simulation", stream_sid=self._stream_sid, simulation=AgentSaid(text=text)
        )
        await self.push_frame(
            OutputTransportMessageUrgentFrame(message=msgspec.to_builtins(envelope))
        )
        chunks = max(1, round(len(text) * self._seconds_per_character / CHUNK_SECONDS))
        for _ in range(chunks):
            yield TTSAudioRawFrame(_NOISE, SAMPLE_RATE, 1, context_id=context_id)

"""A simulated call's recording: both sides on their own channel, as Twilio's dual-channel
recordings are (the prospect left, the agent right), written as a WAV under DATA_DIR so a
demo call can be heard."""

from __future__ import annotations

import wave
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from libs.simulation.protocol import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np

MULAW_SILENCE = 0xFF


@cache
def mulaw_to_linear() -> np.ndarray:
    """G.711 mu-law to 16-bit linear, for every byte value."""
    import numpy as np  # on first use: a process that records nothing never loads numpy

    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


class CallRecorder:
    """Each side's audio placed at the moment it was heard on the line."""

    def __init__(self) -> None:
        self.prospect = bytearray()
        self.agent = bytearray()

    def heard_prospect(self, seconds: float, audio: bytes) -> None:
        _place(self.prospect, seconds, audio)

    def heard_agent(self, seconds: float, audio: bytes) -> None:
        _place(self.agent, seconds, audio)

    def agent_cut_at(self, seconds: float) -> None:
        """`clear`: what the agent had queued beyond this moment was never played."""
        del self.agent[max(0, int(seconds * SAMPLE_RATE)) :]

    @property
    def seconds(self) -> float:
        return max(len(self.prospect), len(self.agent)) / SAMPLE_RATE

    def write(self, path: Path) -> None:
        import numpy as np

        length = max(len(self.prospect), len(self.agent))
        channels = np.full((length, 2), MULAW_SILENCE, dtype=np.uint8)
        channels[: len(self.prospect), 0] = np.frombuffer(bytes(self.prospect), dtype=np.uint8)
        channels[: len(self.agent), 1] = np.frombuffer(bytes(self.agent), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as output:
            output.setnchannels(2)
            output.setsampwidth(2)
            output.setframerate(SAMPLE_RATE)
            output.writeframes(mulaw_to_linear()[channels].tobytes())


def _place(track: bytearray, seconds: float, audio: bytes) -> None:
    start = max(0, int(seconds * SAMPLE_RATE))
    if len(track) < start:
        track.extend(bytes([MULAW_SILENCE]) * (start - len(track)))
    track[start : start + len(audio)] = audio

"""Stops the caller's audio once turn detection has used it.

Nothing after the user aggregator (model, speech synthesis, output) reads the caller's
audio, yet every frame would otherwise hop through each of their queues.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class InputAudioSink(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            return
        await self.push_frame(frame, direction)

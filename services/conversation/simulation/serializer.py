"""Twilio's serializer, plus the simulated call's side channel riding beside the audio.

The stock deserializer drops every message it does not know; this one first lifts a
ProspectSaid out of the stream as a transport message for the simulated speech-to-text.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, InputTransportMessageFrame

from libs.simulation.protocol import ProspectSaid, decode_simulation
from services.conversation.processors.batching_serializer import BatchingTwilioSerializer

PROSPECT_SAID_KEY = "prospect_said"


class SimulationTwilioSerializer(BatchingTwilioSerializer):
    async def deserialize(self, data: str | bytes) -> Frame | None:
        # Cheap test first: only side-channel messages carry the word, media never does.
        if b"simulation" in data if isinstance(data, bytes) else "simulation" in data[:40]:
            message = decode_simulation(data)
            if isinstance(message, ProspectSaid):
                return InputTransportMessageFrame(message={PROSPECT_SAID_KEY: message.text})
        return await super().deserialize(data)

"""The side channel of a simulated call, riding beside the audio on the Twilio media stream.

A real Twilio media stream carries only audio. In simulation the prospect is a persona
played by the simulated carrier, and the agent's voices are simulated services, so what
each side *says* travels as text in extra stream messages that only they understand;
the audio (real 8 kHz mu-law in 20 ms frames) still flows and still drives Pipecat's VAD
and turn detection. Everything else on the stream is exactly Twilio's protocol.

On the wire, next to Twilio's `connected`/`start`/`media`/`mark`/`stop` messages:

    {"event": "simulation", "streamSid": "MZ...", "simulation": {...one message below...}}

Carrier -> agent:
    ProspectSaid   sent just before the audio frames of the prospect's utterance; the
                   simulated speech-to-text reports this text when the audio ends.
Agent -> carrier:
    AgentSaid      sent by the simulated text-to-speech when it starts speaking a
                   sentence; the persona listens to these to decide its next line.

Turn-taking is by audio, as on a real call: the persona answers once the agent's audio
has stopped arriving for a moment after an AgentSaid; the agent answers once its VAD and
turn detection decide the prospect has finished.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SIMULATION_EVENT = "simulation"
SAMPLE_RATE = 8000
FRAME_MILLISECONDS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MILLISECONDS // 1000  # mu-law: one byte per sample


class ProspectSaid(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    text: str


class AgentSaid(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=True):
    text: str


SimulationMessage = ProspectSaid | AgentSaid


class SimulationEnvelope(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The stream message that carries one simulation message."""

    event: Literal["simulation"]
    stream_sid: str
    simulation: SimulationMessage


_decoder = msgspec.json.Decoder(SimulationEnvelope)


def encode_simulation(stream_sid: str, message: SimulationMessage) -> str:
    envelope = SimulationEnvelope(event="simulation", stream_sid=stream_sid, simulation=message)
    return msgspec.json.encode(envelope).decode()


def decode_simulation(text: str | bytes) -> SimulationMessage | None:
    """The simulation message in a stream message, or None if it is plain Twilio."""
    try:
        return _decoder.decode(text).simulation
    except msgspec.DecodeError:  # not JSON, or JSON that is not a simulation message
        return None

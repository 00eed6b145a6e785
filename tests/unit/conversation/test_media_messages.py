"""A malformed media message is dropped, once named, and the call's audio goes on: the
stock reader would end the whole call at the first message it cannot read."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from services.conversation.processors.batching_serializer import (
    FRAMES_PER_BATCH,
    TWILIO_FRAME_BYTES,
    BatchingTwilioSerializer,
)

SILENCE = base64.b64encode(b"\xff" * TWILIO_FRAME_BYTES).decode()


async def serializer() -> BatchingTwilioSerializer:
    reader = BatchingTwilioSerializer(
        stream_sid="MZ" + "0" * 32,
        params=TwilioFrameSerializer.InputParams(
            twilio_sample_rate=8000, sample_rate=8000, auto_hang_up=False
        ),
    )
    # What the pipeline's start gives it; of the setup, the serializer reads only this.
    await reader.setup(SimpleNamespace(audio_in_sample_rate=8000))  # type: ignore[arg-type]
    return reader


def media(payload: str = SILENCE) -> str:
    return json.dumps({"event": "media", "media": {"track": "inbound", "payload": payload}})


MALFORMED = [
    b"\xb3\x00binary",
    "{not json",
    "[1, 2, 3]",
    json.dumps({"event": 7}),
    json.dumps({"event": "media", "media": "not an object"}),
    json.dumps({"event": "media", "media": {"payload": 12}}),
    media("!!not base64!!"),
    json.dumps({"event": "dtmf", "dtmf": ["1"]}),
    "x" * 200_000,
]


@pytest.mark.parametrize("message", MALFORMED, ids=range(len(MALFORMED)))
async def test_a_malformed_message_is_dropped_and_the_audio_goes_on(message):
    reader = await serializer()
    assert await reader.deserialize(media()) is None  # half a batch
    assert await reader.deserialize(message) is None
    frame = await reader.deserialize(media())
    assert isinstance(frame, InputAudioRawFrame)
    assert len(frame.audio) == 2 * TWILIO_FRAME_BYTES * FRAMES_PER_BATCH  # 16-bit PCM
    assert reader.malformed_messages == 1


async def test_a_keypad_press_still_arrives():
    frame = await (await serializer()).deserialize(
        json.dumps({"event": "dtmf", "dtmf": {"digit": "5"}})
    )
    assert isinstance(frame, InputDTMFFrame)

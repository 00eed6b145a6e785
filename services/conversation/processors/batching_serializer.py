"""Twilio's serializer, taking the caller's audio into the pipeline 40 ms at a time.

Twilio sends a 20 ms frame 50 times a second; every frame that enters the pipeline hops
through each processor's queue. Two frames at a time halve that, and add at most 20 ms
before VAD hears the end of speech (its own stop window is 200 ms). Four at a time cost
15% less CPU again but answered 25 ms later (benchmarks/conversation.py): the reply
time is worth more.

Every message is read against the shape Twilio documents before anything acts on it: the
stock reader stops the call's whole receive loop at the first message it cannot read (a
list where an object belongs, a bad base64 payload) and logs the message in full. Here a
malformed message is dropped and named once, and the call goes on.
"""

from __future__ import annotations

import base64
import binascii

import msgspec
from loguru import logger
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import ulaw_to_pcm
from pipecat.frames.frames import Frame, InputAudioRawFrame, InputDTMFFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from services.conversation.admission import MAX_MESSAGE_CHARACTERS

TWILIO_FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAMES_PER_BATCH = 2


class _Media(msgspec.Struct):
    payload: str = ""


class _Dtmf(msgspec.Struct):
    digit: str = ""


class _Message(msgspec.Struct):
    event: str
    media: _Media | None = None
    dtmf: _Dtmf | None = None


_message = msgspec.json.Decoder(_Message)


class BatchingTwilioSerializer(TwilioFrameSerializer):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pending = bytearray()
        self.malformed_messages = 0

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return self._malformed("a binary message (Twilio sends JSON text)")
        if len(data) > MAX_MESSAGE_CHARACTERS:
            return self._malformed(f"a {len(data)}-character message")
        try:
            message = _message.decode(data)
        except msgspec.DecodeError as exc:
            return self._malformed(str(exc))
        if message.event == "dtmf":
            try:
                return InputDTMFFrame(KeypadEntry(message.dtmf.digit if message.dtmf else ""))
            except ValueError:
                return None
        if message.event != "media" or message.media is None or not message.media.payload:
            return None  # mark, stop, and what this pipeline does not read
        try:
            self._pending += base64.b64decode(message.media.payload, validate=True)
        except binascii.Error:
            return self._malformed("a media payload that is not base64")
        if len(self._pending) < TWILIO_FRAME_BYTES * FRAMES_PER_BATCH:
            return None
        audio, self._pending = bytes(self._pending), bytearray()
        pcm = await ulaw_to_pcm(
            audio, self._twilio_sample_rate, self._sample_rate, self._input_resampler
        )
        if not pcm:
            return None
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=self._sample_rate)

    def _malformed(self, what: str) -> None:
        self.malformed_messages += 1
        if self.malformed_messages == 1:  # one line per call, however many follow
            logger.warning("Dropped a malformed media stream message: {what}", what=what[:120])
        return None

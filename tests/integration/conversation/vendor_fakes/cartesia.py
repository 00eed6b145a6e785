"""Cartesia's TTS websocket (/tts/websocket), as Pipecat's CartesiaTTSService speaks to it.

Each request carries a transcript on a context; the fake answers with base64 `chunk`
messages of pcm_s16le audio sized to the words, then `timestamps` for those words. A
request with `continue: false` closes its context: `done` comes last. A `cancel` is
accepted silently.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import struct
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

SECONDS_PER_WORD = 0.05  # brisk, so that a test call is short
CHUNK_SECONDS = 0.1


@dataclass
class FakeCartesia:
    url: str = ""
    connections: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _offsets: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def spoken(self) -> list[str]:
        return [request["transcript"] for request in self.requests if request["transcript"]]

    async def _handle(self, socket: ServerConnection) -> None:
        request = socket.request
        assert request is not None
        self.connections.append(
            {
                "path": request.path,
                "api_key": request.headers.get("x-api-key", ""),
                "version": request.headers.get("cartesia-version", ""),
            }
        )
        async for raw in socket:
            message = json.loads(raw)
            if message.get("cancel"):
                continue
            self.requests.append(message)
            context_id = message["context_id"]
            if message.get("transcript", "").strip():
                for reply in self._speak(message, context_id):
                    await socket.send(json.dumps(reply))
            if not message.get("continue", True):
                done = {"type": "done", "done": True, "status_code": 206, "context_id": context_id}
                await socket.send(json.dumps(done))

    def _speak(self, message: dict[str, Any], context_id: str) -> list[dict[str, Any]]:
        words = message["transcript"].split()
        rate = message["output_format"]["sample_rate"]
        assert message["output_format"]["encoding"] == "pcm_s16le"
        offset = self._offsets[context_id]
        audio = _tone(len(words) * SECONDS_PER_WORD, rate)
        step = int(CHUNK_SECONDS * rate) * 2
        replies: list[dict[str, Any]] = [
            {
                "type": "chunk",
                "data": base64.b64encode(audio[at : at + step]).decode(),
                "done": False,
                "status_code": 206,
                "step_time": CHUNK_SECONDS,
                "context_id": context_id,
            }
            for at in range(0, len(audio), step)
        ]
        starts = [offset + index * SECONDS_PER_WORD for index in range(len(words))]
        replies.append(
            {
                "type": "timestamps",
                "done": False,
                "status_code": 206,
                "context_id": context_id,
                "word_timestamps": {
                    "words": words,
                    "start": starts,
                    "end": [start + SECONDS_PER_WORD for start in starts],
                },
            }
        )
        self._offsets[context_id] = offset + len(words) * SECONDS_PER_WORD
        return replies

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeCartesia]:
        async with serve(self._handle, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/tts/websocket"
            yield self


def _tone(seconds: float, rate: int) -> bytes:
    """A quiet 220 Hz tone: audio a listener can tell from silence."""
    count = int(seconds * rate)
    samples = (int(3000 * math.sin(2 * math.pi * 220 * n / rate)) for n in range(count))
    return struct.pack(f"<{count}h", *samples)

"""Deepgram's live listen websocket (/v1/listen), as the Deepgram SDK speaks to it.

Audio arrives as binary messages; `{"type": "Finalize"}` is answered with a final
`Results` message carrying `from_finalize: true` (Pipecat sends it when VAD hears the
end of speech), `KeepAlive` is accepted and `CloseStream` closes the stream. The words
"recognised" are the ones the test says the prospect is speaking.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from websockets.asyncio.server import ServerConnection, serve

BYTES_PER_SECOND = 16000  # linear16 at 8 kHz, one channel


@dataclass
class FakeDeepgram:
    url: str = ""
    connections: list[dict[str, Any]] = field(default_factory=list)
    finalizes: int = 0
    transcripts: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    _speaking: list[str] = field(default_factory=list)
    _audio_since_result: int = 0
    _audio_offset: int = 0

    def say(self, text: str) -> None:
        """The prospect starts saying `text`: the next finalised result will carry it."""
        self._speaking.append(text)

    async def _handle(self, socket: ServerConnection) -> None:
        request = socket.request
        assert request is not None
        self.connections.append(
            {"path": request.path, "authorization": request.headers.get("authorization", "")}
        )
        async for message in socket:
            if isinstance(message, bytes):
                self.audio_bytes += len(message)
                self._audio_since_result += len(message)
                continue
            kind = json.loads(message).get("type")
            if kind == "Finalize":
                self.finalizes += 1
                await socket.send(json.dumps(self._finalized()))
            elif kind == "CloseStream":
                await socket.close()
                return

    def _finalized(self) -> dict[str, Any]:
        heard = self._audio_since_result > 0
        text = " ".join(self._speaking) if heard else ""
        if heard:
            self._speaking.clear()
        if text:
            self.transcripts.append(text)
        start = self._audio_offset / BYTES_PER_SECOND
        duration = self._audio_since_result / BYTES_PER_SECOND
        self._audio_offset += self._audio_since_result
        self._audio_since_result = 0
        return results(text, start=start, duration=duration)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeDeepgram]:
        async with serve(self._handle, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            yield self


def results(text: str, *, start: float, duration: float) -> dict[str, Any]:
    words = [
        {"word": word.strip(".,?!").lower(), "punctuated_word": word, "confidence": 0.98}
        | _word_times(index, len(text.split()), start, duration)
        for index, word in enumerate(text.split())
    ]
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": duration,
        "start": start,
        "is_final": True,
        "speech_final": True,
        "from_finalize": True,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.98, "words": words}]},
        "metadata": {
            "request_id": str(uuid4()),
            "model_info": {"name": "general-nova-3", "version": "2025-01-01", "arch": "nova-3"},
            "model_uuid": str(uuid4()),
        },
    }


def _word_times(index: int, count: int, start: float, duration: float) -> dict[str, float]:
    step = duration / max(count, 1)
    return {"start": start + index * step, "end": start + (index + 1) * step}

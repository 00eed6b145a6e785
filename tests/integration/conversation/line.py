"""A Twilio Media Streams client on a real socket, with a scripted prospect on the line.

Sends `connected`, `start` (with the call_id parameter), then one 20 ms mu-law frame
every 20 ms: the prospect's simulated voice when it speaks, silence otherwise. Each line
is announced with ProspectSaid, and spoken once the agent has said something new and its
audio has paused, as a person would. Against real vendors there is no side channel: a
burst of agent audio after a pause counts as something new said, and `on_say` tells the
speech-to-text fake what the prospect is saying.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from libs.runtime.stream_tokens import issue_stream_token, stream_keys
from libs.simulation.protocol import AgentSaid, ProspectSaid, decode_simulation, encode_simulation
from libs.simulation.speech import SILENCE_FRAME, synthesize_utterance
from tests.integration.conversation.support import AUTH_TOKEN

FRAME_SECONDS = 0.02
QUIET_SECONDS = 0.4
BARGE_IN_AFTER_SECONDS = 0.3


def token_for(call_id: UUID | str, call_sid: str, issued_at: float | None = None) -> str:
    """The token telephony's TwiML gives the call (issued now, unless said otherwise)."""
    [key] = stream_keys(None, None, AUTH_TOKEN)
    when = time.time() if issued_at is None else issued_at
    return issue_stream_token(key, UUID(str(call_id)), call_sid, when)


@dataclass
class Heard:
    agent_lines: list[str] = field(default_factory=list)
    agent_audio_bytes: int = 0
    audio_bytes_per_line: list[int] = field(default_factory=list)  # after each agent line
    agent_bursts: int = 0  # runs of agent audio separated by a pause
    first_event: str = ""  # the first thing the agent sent: "media" or "simulation"
    clears: int = 0
    close_code: int | None = None


class ProspectLine:
    def __init__(
        self,
        url: str,
        call_id: UUID | str,
        lines: list[str],
        *,
        hang_up_during_line: int | None = None,
        barge_in_line: int | None = None,
        wait_for_agent_first: bool = True,
        turns_from_audio: bool = False,
        on_say: Callable[[str], None] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url, self.call_id, self.lines = url, str(call_id), lines
        self.call_sid = "CA" + "2" * 32
        # What telephony's TwiML would have given this call; a test may present another.
        self.token = token if token is not None else token_for(call_id, self.call_sid)
        self.headers = headers or {}  # on the upgrade request, as Twilio's signature is
        self.hang_up_during_line = hang_up_during_line
        self.barge_in_line = barge_in_line
        self.wait_for_agent_first = wait_for_agent_first
        self.turns_from_audio, self.on_say = turns_from_audio, on_say
        self.stream_sid = "MZ" + "0" * 32
        self.heard = Heard()
        self._audio = bytearray()
        self._audio_drained = asyncio.Event()
        self._agent_spoke = asyncio.Event()
        self._last_agent_activity = 0.0
        self._lines_answered = 0

    async def run(self, timeout: float = 60) -> Heard:
        async with connect(self.url, additional_headers=self.headers) as socket:
            await socket.send(json.dumps({"event": "connected", "protocol": "Call"}))
            await socket.send(json.dumps(self._start()))
            sender = asyncio.create_task(self._send_audio(socket))
            receiver = asyncio.create_task(self._receive(socket))
            speaker = asyncio.create_task(self._speak(socket))
            try:
                async with asyncio.timeout(timeout):
                    done, _ = await asyncio.wait(
                        {receiver, speaker}, return_when=asyncio.FIRST_COMPLETED
                    )
                if speaker in done and speaker.exception() is None and self._hung_up:
                    await socket.send(json.dumps({"event": "stop", "streamSid": self.stream_sid}))
                    await socket.close()
                    return self.heard
                await receiver  # the agent hangs up: the server closes the stream
            finally:
                for task in (sender, receiver, speaker):
                    task.cancel()
                await asyncio.gather(sender, receiver, speaker, return_exceptions=True)
        return self.heard

    _hung_up = False

    async def _speak(self, socket: ClientConnection) -> None:
        for index, line in enumerate(self.lines):
            if index == self.barge_in_line:
                await self._agent_started()
            elif index > 0 or self.wait_for_agent_first:
                await self._agent_finished()
            audio = synthesize_utterance(line, seed=index)
            if self.on_say is not None:
                self.on_say(line)
            await socket.send(encode_simulation(self.stream_sid, ProspectSaid(text=line)))
            if index == self.hang_up_during_line:
                self._audio.extend(audio[: len(audio) // 2])
                self._audio_drained.clear()
                await self._audio_drained.wait()
                self._hung_up = True
                return
            self._audio.extend(audio)
        await asyncio.Event().wait()  # nothing more to say: wait for the agent to hang up

    async def _agent_finished(self) -> None:
        loop = asyncio.get_running_loop()
        while self._agent_turns() <= self._lines_answered:
            self._agent_spoke.clear()
            await self._agent_spoke.wait()
        while (remaining := self._last_agent_activity + QUIET_SECONDS - loop.time()) > 0:
            self._agent_spoke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._agent_spoke.wait(), remaining)
        self._lines_answered = self._agent_turns()

    async def _agent_started(self) -> None:
        """Until the agent is a moment into its next line: then the prospect talks over it."""

        def speaking_anew() -> bool:
            new_line = self._agent_turns() > self._lines_answered
            return new_line and self.heard.audio_bytes_per_line[-1] > 0

        while not speaking_anew():
            self._agent_spoke.clear()
            await self._agent_spoke.wait()
        await asyncio.sleep(BARGE_IN_AFTER_SECONDS)
        self._lines_answered = self._agent_turns()

    def _agent_turns(self) -> int:
        return self.heard.agent_bursts if self.turns_from_audio else len(self.heard.agent_lines)

    async def _send_audio(self, socket: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        started, sent = loop.time(), 0
        while True:
            frame = bytes(self._audio[:160]).ljust(160, b"\xff") if self._audio else SILENCE_FRAME
            del self._audio[:160]
            if not self._audio:
                self._audio_drained.set()
            payload = base64.b64encode(frame).decode()
            message = {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {"payload": payload},
            }
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps(message))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent * FRAME_SECONDS - loop.time()))

    async def _receive(self, socket: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in socket:
                said = decode_simulation(raw)
                message = json.loads(raw)
                event = message.get("event", "")
                self.heard.first_event = self.heard.first_event or event
                if isinstance(said, AgentSaid):
                    self.heard.agent_lines.append(said.text)
                    self.heard.audio_bytes_per_line.append(0)
                elif event == "media":
                    quiet = loop.time() - self._last_agent_activity > QUIET_SECONDS
                    if quiet or not self.heard.agent_audio_bytes:
                        self.heard.agent_bursts += 1
                    audio_bytes = len(base64.b64decode(message["media"]["payload"]))
                    self.heard.agent_audio_bytes += audio_bytes
                    if self.heard.audio_bytes_per_line:
                        self.heard.audio_bytes_per_line[-1] += audio_bytes
                elif event == "clear":
                    self.heard.clears += 1
                    continue
                else:
                    continue
                self._last_agent_activity = loop.time()
                self._agent_spoke.set()
        except ConnectionClosed as closed:
            self.heard.close_code = closed.rcvd.code if closed.rcvd else None
            return
        self.heard.close_code = socket.close_code

    def _start(self) -> dict[str, object]:
        return {
            "event": "start",
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "accountSid": "AC" + "1" * 32,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": {"call_id": self.call_id, "token": self.token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }

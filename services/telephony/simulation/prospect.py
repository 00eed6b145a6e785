"""The carrier's side of a Twilio Media Stream, with a scripted prospect on the line.

Speaks the protocol as Twilio documents it: `connected`, `start` (streamSid, callSid,
customParameters, mediaFormat audio/x-mulaw 8000 mono), `media` with 160-byte (20 ms)
mu-law frames paced in real time, `mark` echoed once the audio sent before it has played
(at once on `clear`), and `stop`. Beside the audio it sends ProspectSaid before each
utterance and listens for AgentSaid (libs/simulation/protocol.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from libs.runtime.security import TWILIO_SIGNATURE_HEADER
from libs.simulation.personas import Persona
from libs.simulation.protocol import (
    FRAME_BYTES,
    FRAME_MILLISECONDS,
    SAMPLE_RATE,
    SIMULATION_EVENT,
    AgentSaid,
    ProspectSaid,
    decode_simulation,
    encode_simulation,
)
from services.telephony.simulation.recording import CallRecorder

Speak = Callable[[str, int], bytes]  # (text, seed) -> 8 kHz mu-law
Ending = Literal["prospect-hung-up", "agent-hung-up", "stream-closed", "time-limit"]

SILENCE_FRAME = b"\xff" * FRAME_BYTES
SILENCE_PAYLOAD = base64.b64encode(SILENCE_FRAME).decode()
FRAME_SECONDS = FRAME_MILLISECONDS / 1000
TURN_QUIET_SECONDS = 0.4  # the agent has finished when its audio stops this long
GOODBYE_QUIET_SECONDS = 2.0  # after the last line: time for the agent to wrap up and hang up
MACHINE_QUIET_SECONDS = 3.0  # an answering machine stops recording after this much silence
PICKUP_SECONDS = 0.6  # from the stream starting to the first "Hello?", as people do
PATIENCE_SECONDS = 20.0  # after its last line, a prospect left waiting this long hangs up
CHOICES_AT_MOST = 2  # times a prospect picks again from new times before giving up


class ProspectOnTheLine:
    """One answered call's media stream, from connect to stop."""

    def __init__(
        self,
        *,
        stream_url: str,
        account_sid: str,
        call_sid: str,
        stream_sid: str,
        custom_parameters: dict[str, str],
        signature: str,
        persona: Persona,
        speak: Speak,
        recorder: CallRecorder | None = None,
    ) -> None:
        self.stream_url = stream_url
        self.account_sid = account_sid
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.custom_parameters = custom_parameters
        self.signature = signature
        self.persona = persona
        self.speak = speak
        self.recorder = recorder  # RECORD_CALLS: both sides, as heard on the line
        self._started = 0.0  # the line's clock: when the first frame went out
        self.agent_lines: list[str] = []
        self._sequence = 0
        self._chunk = 0
        self._utterances: deque[tuple[str, bytes]] = deque()
        self._spoken = asyncio.Event()  # set when the queued utterances have all played
        self._agent_spoke = asyncio.Event()  # set on any AgentSaid or agent audio
        self._agent_lines_answered = 0  # AgentSaid messages the persona has answered
        self._last_agent_activity = 0.0
        self._playback_ends = 0.0  # when the agent audio received so far finishes playing
        self._marks: dict[str, asyncio.TimerHandle] = {}
        self._echoes: deque[str] = deque()  # marks whose audio has played, for the sender

    async def run(self, hang_up: asyncio.Event, time_limit_seconds: float) -> Ending:
        async with connect(
            self.stream_url,
            open_timeout=10,
            max_size=2**20,
            additional_headers={TWILIO_SIGNATURE_HEADER: self.signature},
        ) as socket:
            await self._send_json(
                socket, {"event": "connected", "protocol": "Call", "version": "1.0.0"}
            )
            await self._send_json(socket, self._start_message())
            ending = await self._converse(socket, hang_up, time_limit_seconds)
            for handle in self._marks.values():
                handle.cancel()
            if ending != "stream-closed":
                with contextlib.suppress(ConnectionClosed):
                    await self._send_json(socket, self._stop_message())
        return ending

    async def _converse(
        self, socket: ClientConnection, hang_up: asyncio.Event, time_limit_seconds: float
    ) -> Ending:
        tasks: dict[asyncio.Task[Any], Ending] = {
            asyncio.create_task(self._play_persona()): "prospect-hung-up",
            asyncio.create_task(self._receive(socket)): "stream-closed",
            asyncio.create_task(hang_up.wait()): "agent-hung-up",
        }
        sender = asyncio.create_task(self._send_audio(socket))
        try:
            done, _ = await asyncio.wait(
                tasks, timeout=time_limit_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (*tasks, sender):
                task.cancel()
            await asyncio.gather(*tasks, sender, return_exceptions=True)
        if not done:
            return "time-limit"
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, ConnectionClosed):
                raise error
        return tasks[next(iter(done))]

    # The prospect -------------------------------------------------------------------

    async def _play_persona(self) -> None:
        """Say each line in turn, answering the agent; then let it wrap up, and hang up."""
        lines = self.persona.lines
        # Voiced off the event loop (it carries other calls' audio), while picking up.
        _, voices = await asyncio.gather(
            asyncio.sleep(PICKUP_SECONDS), asyncio.to_thread(self._voice_lines)
        )
        for index, (line, audio) in enumerate(zip(lines, voices, strict=True)):
            if index > 0:
                await self._agent_finished(TURN_QUIET_SECONDS)
            await self._say(line, audio)
        final_quiet = (
            MACHINE_QUIET_SECONDS if self.persona.answered_by_machine else GOODBYE_QUIET_SECONDS
        )
        for choice in range(CHOICES_AT_MOST + 1):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PATIENCE_SECONDS):
                    await self._agent_finished(final_quiet)
            latest = self.agent_lines[-1] if self.agent_lines else ""
            if choice == CHOICES_AT_MOST or not self.persona.asked_to_choose(latest):
                return
            line = self.persona.choice_line
            seed = self.persona.voice_seed + len(lines) + choice
            await self._say(line, await asyncio.to_thread(self.speak, line, seed))

    def _voice_lines(self) -> list[bytes]:
        seed = self.persona.voice_seed
        return [
            self.speak(line, seed + index) or SILENCE_FRAME
            for index, line in enumerate(self.persona.lines)
        ]

    async def _say(self, text: str, audio: bytes) -> None:
        self._spoken.clear()
        self._utterances.append((text, audio))
        await self._spoken.wait()

    async def _agent_finished(self, quiet_seconds: float) -> None:
        """The agent said something new (AgentSaid), then its audio paused `quiet_seconds`."""
        loop = asyncio.get_running_loop()
        while len(self.agent_lines) <= self._agent_lines_answered:
            self._agent_spoke.clear()
            await self._agent_spoke.wait()
        while True:
            remaining = self._last_agent_activity + quiet_seconds - loop.time()
            if remaining <= 0:
                break
            self._agent_spoke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._agent_spoke.wait(), timeout=remaining)
        self._agent_lines_answered = len(self.agent_lines)

    # The wire -----------------------------------------------------------------------

    async def _send_audio(self, socket: ClientConnection) -> None:
        """One frame every 20 ms on a fixed schedule: the prospect's voice, else silence."""
        loop = asyncio.get_running_loop()
        started = self._started = loop.time()
        audio = b""
        frame_index = 0
        while True:
            while self._echoes:  # numbered when sent, so sequence numbers stay in order
                await self._send_json(socket, self._mark_message(self._echoes.popleft()))
            if not audio and self._utterances:
                text, audio = self._utterances.popleft()
                await socket.send(encode_simulation(self.stream_sid, ProspectSaid(text=text)))
            if audio:
                frame, audio = audio[:FRAME_BYTES], audio[FRAME_BYTES:]
                frame = frame.ljust(FRAME_BYTES, b"\xff")
                if not audio and not self._utterances:
                    self._spoken.set()
            else:
                frame = SILENCE_FRAME
            if self.recorder is not None:
                self.recorder.heard_prospect(frame_index * FRAME_SECONDS, frame)
            await self._send_text(socket, self._media_message(frame, frame_index))
            frame_index += 1
            await asyncio.sleep(max(0.0, started + frame_index * FRAME_SECONDS - loop.time()))

    async def _receive(self, socket: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        async for raw in socket:
            now = loop.time()
            message = json.loads(raw)
            event = message.get("event")
            if event == SIMULATION_EVENT:
                simulation = decode_simulation(raw)
                if isinstance(simulation, AgentSaid):
                    self.agent_lines.append(simulation.text)
                    self._agent_heard(now)
            elif event == "media":
                encoded = message["media"]["payload"]
                samples = len(encoded) * 3 // 4 - encoded[-2:].count("=")  # without decoding
                plays_at = max(self._playback_ends, now)
                if self.recorder is not None:
                    audio = base64.b64decode(encoded)
                    self.recorder.heard_agent(plays_at - self._started, audio)
                self._playback_ends = plays_at + samples / SAMPLE_RATE
                self._agent_heard(now)
            elif event == "mark":
                self._echo_mark(message["mark"]["name"], now)
            elif event == "clear":  # drop the queued audio: every pending mark comes back now
                self._playback_ends = now
                if self.recorder is not None:
                    self.recorder.agent_cut_at(now - self._started)
                for name, handle in list(self._marks.items()):
                    handle.cancel()
                    self._echo_now(name)

    def _agent_heard(self, now: float) -> None:
        self._last_agent_activity = now
        self._agent_spoke.set()

    def _echo_mark(self, name: str, now: float) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._playback_ends - now)
        self._marks[name] = loop.call_later(delay, self._echo_now, name)

    def _echo_now(self, name: str) -> None:
        self._marks.pop(name, None)
        self._echoes.append(name)

    async def _send_json(self, socket: ClientConnection, message: dict[str, Any]) -> None:
        await self._send_text(socket, json.dumps(message))

    async def _send_text(self, socket: ClientConnection, text: str) -> None:
        try:
            await socket.send(text)
        except ConnectionClosed:
            logger.debug("Stream closed before a message was sent")

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def _start_message(self) -> dict[str, Any]:
        return {
            "event": "start",
            "sequenceNumber": self._next_sequence(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": self.custom_parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": self.stream_sid,
        }

    def _media_message(self, frame: bytes, frame_index: int) -> str:
        # Fifty of these a second per call: formatted directly rather than through json.
        self._chunk += 1
        payload = SILENCE_PAYLOAD if frame == SILENCE_FRAME else base64.b64encode(frame).decode()
        return (
            f'{{"event":"media","sequenceNumber":"{self._next_sequence()}","media":'
            f'{{"track":"inbound","chunk":"{self._chunk}","timestamp":'
            f'"{frame_index * FRAME_MILLISECONDS}","payload":"{payload}"}},'
            f'"streamSid":"{self.stream_sid}"}}'
        )

    def _mark_message(self, name: str) -> dict[str, Any]:
        return {
            "event": "mark",
            "sequenceNumber": self._next_sequence(),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        }

    def _stop_message(self) -> dict[str, Any]:
        return {
            "event": "stop",
            "sequenceNumber": self._next_sequence(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
        }

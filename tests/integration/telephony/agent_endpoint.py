"""A minimal stand-in for the conversation service's `/twilio/stream`: records what the
carrier sends and answers each prospect utterance as the simulated agent would."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from libs.simulation.protocol import AgentSaid, ProspectSaid, decode_simulation, encode_simulation

AGENT_AUDIO = base64.b64encode(b"\x2a" * 160).decode()  # one 20 ms frame of a voice


@dataclass
class StreamRecord:
    """Everything one call's carrier side sent, in order."""

    start: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    media_arrivals: list[float] = field(default_factory=list)
    prospect_lines: list[str] = field(default_factory=list)
    echoed_marks: list[str] = field(default_factory=list)
    stopped: bool = False
    hung_up_by_agent: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def media(self) -> list[dict[str, Any]]:
        return [m["media"] for m in self.messages if m.get("event") == "media"]


@dataclass
class MiniAgent:
    """Replies to each finished prospect utterance; hangs up through the fake REST API
    after a meeting is accepted or a voicemail greeting ends."""

    api_base_url: str
    account_sid: str
    auth_token: str
    silent_call_ids: set[str] = field(default_factory=set)
    records: dict[str, StreamRecord] = field(default_factory=dict)

    def handler(self) -> Any:
        @websocket("/twilio/stream", opt={"access": "twilio"})
        async def stream(socket: WebSocket[Any, Any, Any]) -> None:
            await socket.accept()
            await self.converse(socket)

        return stream

    async def converse(self, socket: WebSocket[Any, Any, Any]) -> None:
        record = StreamRecord()
        hearing: str | None = None  # the prospect line whose audio is arriving
        heard_voice = False
        try:
            while True:
                raw = await socket.receive_text()
                said = decode_simulation(raw)
                if isinstance(said, ProspectSaid):
                    record.prospect_lines.append(said.text)
                    hearing, heard_voice = said.text, False
                    continue
                message = json.loads(raw)
                record.messages.append(message)
                event = message["event"]
                if event == "start":
                    record.start = message["start"]
                    self.records[record.start["customParameters"]["call_id"]] = record
                elif event == "media":
                    record.media_arrivals.append(time.monotonic())
                    silent = base64.b64decode(message["media"]["payload"]) == b"\xff" * 160
                    heard_voice = heard_voice or not silent
                    if hearing is not None and heard_voice and silent:
                        await self.reply(socket, record, hearing)
                        hearing = None
                elif event == "mark":
                    record.echoed_marks.append(message["mark"]["name"])
                elif event == "stop":
                    record.stopped = True
                    break
        except WebSocketDisconnect:
            pass
        finally:
            record.ended.set()

    async def reply(
        self, socket: WebSocket[Any, Any, Any], record: StreamRecord, line: str
    ) -> None:
        if record.start["customParameters"]["call_id"] in self.silent_call_ids:
            return
        stream_sid = record.start["streamSid"]
        closing = "works for me" in line.lower() or "message" in line.lower()
        text = "Thank you, goodbye." if closing else "I understand. May I ask one more thing?"
        await socket.send_text(encode_simulation(stream_sid, AgentSaid(text=text)))
        for _ in range(10):
            media = {"event": "media", "streamSid": stream_sid, "media": {"payload": AGENT_AUDIO}}
            await socket.send_text(json.dumps(media))
        name = f"reply-{len(record.prospect_lines)}"
        await socket.send_text(
            json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})
        )
        if closing:
            await self.hang_up(record)

    async def hang_up(self, record: StreamRecord) -> None:
        call_sid = record.start["callSid"]
        url = f"{self.api_base_url}/2010-04-01/Accounts/{self.account_sid}/Calls/{call_sid}.json"
        async with httpx.AsyncClient(auth=(self.account_sid, self.auth_token)) as client:
            response = await client.post(url, data={"Status": "completed"})
        response.raise_for_status()
        record.hung_up_by_agent = True

"""`WS /twilio/stream`: Twilio's media stream for an answered call, one pipeline per call."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from litestar import Response, WebSocket, get, websocket
from litestar.di import NamedDependency
from loguru import logger
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from libs.bus import EventBus
from libs.events import CallAnswered, CallRequested, TranscriptFinalized, subject_for
from libs.runtime.problems import problem
from services.conversation import records
from services.conversation.call import Call
from services.conversation.domain import playbook_for
from services.conversation.pipeline import Stream
from services.conversation.service import ConversationRuntime

# Close codes (RFC 6455 private range) that say why a stream was refused.
UNKNOWN_CALL = 4404
FINISHED_CALL = 4409
BUSY = 4503


class StreamStart:
    def __init__(self, message: dict[str, Any]) -> None:
        start = message.get("start", {})
        self.stream_sid: str = start.get("streamSid") or message.get("streamSid", "")
        self.call_sid: str = start.get("callSid", "")
        self.call_id_text: str = start.get("customParameters", {}).get("call_id", "")


async def _read_start(socket: StarletteWebSocket) -> StreamStart | None:
    """Twilio sends `connected`, then `start`; nothing else comes first."""
    for _ in range(2):
        message = json.loads(await socket.receive_text())
        if message.get("event") == "start":
            return StreamStart(message)
    return None


@websocket("/twilio/stream", opt={"access": "twilio"})
async def twilio_stream(
    socket: WebSocket[Any, Any, Any],
    bus: NamedDependency[EventBus],
    conversation: NamedDependency[ConversationRuntime],
) -> None:
    # Pipecat's transport speaks Starlette's WebSocket; the same ASGI connection serves both.
    stream_socket = StarletteWebSocket(socket.scope, socket.receive, socket.send)
    await stream_socket.accept()
    try:
        start = await _read_start(stream_socket)
    except (WebSocketDisconnect, json.JSONDecodeError):
        return
    call = await _call_for(start, bus, conversation)
    if isinstance(call, int):
        if stream_socket.client_state == WebSocketState.CONNECTED:
            await stream_socket.close(code=call)
        return
    with logger.contextualize(call_id=str(call.request.call_id), lead_id=str(call.request.lead_id)):
        logger.info("Media stream started ({mode})", mode=conversation.settings.voices)
        await call.run(stream_socket)


async def _call_for(
    start: StreamStart | None, bus: EventBus, conversation: ConversationRuntime
) -> Call | int:
    if start is None:
        logger.warning("Stream refused: no start message")
        return UNKNOWN_CALL
    try:
        call_id = UUID(start.call_id_text)
    except ValueError:
        logger.warning(
            "Stream refused: call_id parameter {value!r} is not a UUID",
            value=start.call_id_text[:40],
        )
        return UNKNOWN_CALL
    request = await bus.last_event(subject_for(CallRequested, call_id))
    if not isinstance(request, CallRequested):
        logger.warning("Stream refused: unknown call {call_id}", call_id=str(call_id))
        return UNKNOWN_CALL
    if await bus.last_event(subject_for(TranscriptFinalized, call_id)) is not None:
        logger.warning("Stream refused: call {call_id} already finished", call_id=str(call_id))
        return FINISHED_CALL
    if conversation.load.live_calls >= conversation.load.max_live_calls:
        logger.warning(
            "Stream refused: at capacity ({calls} live calls)", calls=conversation.load.live_calls
        )
        return BUSY
    answered = await bus.last_event(subject_for(CallAnswered, call_id))
    if answered is None:
        await bus.publish(records.call_answered(request, conversation.clock()))
    # Telephony's machine detection, when it came before the stream; else a person (ours).
    answered_by = answered.answered_by if isinstance(answered, CallAnswered) else "human"
    stream = Stream(
        stream_sid=start.stream_sid,
        call_sid=start.call_sid,
        serializer=conversation.voices.serializer(start.stream_sid, start.call_sid),
    )
    return Call(
        request=request,
        stream=stream,
        answered_by=answered_by,
        playbook=playbook_for(conversation.playbooks, request.lead.business_type),
        env=conversation.for_calls(bus),
    )


@get("/conversation/load", opt={"access": "public"})
async def conversation_load(conversation: NamedDependency[ConversationRuntime]) -> Response[Any]:
    """Ready for another call? Degraded (503) when the process is at capacity or stuttering."""
    reasons = conversation.load.overload_reasons()
    if reasons:
        return problem(503, "degraded: " + "; ".join(reasons))
    return Response({"status": "ready", **conversation.load.snapshot()})

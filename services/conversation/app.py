"""`WS /twilio/stream`: Twilio's media stream for an answered call, one pipeline per call."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from litestar import Response, WebSocket, get, websocket
from litestar.di import NamedDependency
from loguru import logger
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from libs.bus import EventBus
from libs.events import AnswerClassified, CallAnswered, CallRequested, subject_for
from libs.runtime.problems import problem
from libs.runtime.security import TWILIO_SIGNATURE_HEADER
from services.conversation import records
from services.conversation.admission import (
    BUSY,
    POLICY_VIOLATION,
    UNKNOWN_CALL,
    StreamRefused,
    check_token,
    check_upgrade_signature,
    read_start,
)
from services.conversation.call import Call
from services.conversation.domain import playbook_for, who_answered
from services.conversation.pipeline import Stream
from services.conversation.service import ConversationRuntime


@websocket("/twilio/stream", opt={"access": "twilio"})
async def twilio_stream(
    socket: WebSocket[Any, Any, Any],
    bus: NamedDependency[EventBus],
    conversation: NamedDependency[ConversationRuntime],
) -> None:
    # Pipecat's transport speaks Starlette's WebSocket; the same ASGI connection serves both.
    stream_socket = StarletteWebSocket(socket.scope, socket.receive, socket.send)
    checked_url = check_upgrade_signature(
        socket.headers, socket.url.path, conversation.settings.auth_token
    )
    if checked_url is not None:
        # Refused before the upgrade completes: the peer gets an HTTP 403, not a socket.
        logger.warning(
            "Stream refused: the {header} of its upgrade does not match {url}; if every "
            "stream fails, the proxy in front must pass Host on",
            header=TWILIO_SIGNATURE_HEADER,
            url=checked_url,
        )
        await stream_socket.close(code=POLICY_VIOLATION)
        return
    await stream_socket.accept()
    try:
        with conversation.gate.admitting():
            call = await _admit(stream_socket, bus, conversation)
            with (
                conversation.calls.carrying(call),
                logger.contextualize(
                    call_id=str(call.request.call_id), lead_id=str(call.request.lead_id)
                ),
            ):
                logger.info("Media stream started ({mode})", mode=conversation.settings.voices)
                await call.run(stream_socket)
    except StreamRefused as refusal:
        logger.warning("Stream refused: {reason}", reason=refusal.reason)
        if refusal.code and stream_socket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await stream_socket.close(code=refusal.code)
    except Exception:
        # The framework drops what a socket handler raises without a word: say it here.
        logger.exception("Media stream failed")
        raise


async def _admit(
    socket: StarletteWebSocket, bus: EventBus, conversation: ConversationRuntime
) -> Call:
    """The call this stream is for, or StreamRefused; nothing is published for a refused
    stream, and nothing costs a vendor a session before the token holds."""
    settings = conversation.settings
    start = await read_start(socket.receive, settings.stream_start_timeout_seconds)
    check_token(start, settings.media_stream_keys, time.time())
    request = await bus.last_event(subject_for(CallRequested, start.call_id))
    if not isinstance(request, CallRequested):
        raise StreamRefused(UNKNOWN_CALL, f"unknown call {start.call_id}")
    if conversation.load.live_calls >= conversation.load.max_live_calls:
        raise StreamRefused(BUSY, f"at capacity ({conversation.load.live_calls} live calls)")
    now = conversation.clock()
    claim = records.stream_started(request, start.stream_sid, start.call_sid, now)
    if not await bus.publish_if_first(claim):
        raise StreamRefused(POLICY_VIOLATION, f"call {start.call_id} already had its stream")
    answered = await bus.last_event(subject_for(CallAnswered, start.call_id))
    if answered is None:
        await bus.publish(records.call_answered(request, now))
    # Telephony's machine detection, when it came before the stream; else a person (ours).
    # One that comes later reaches the live call (services/conversation/live.py).
    classified = await bus.last_event(subject_for(AnswerClassified, start.call_id))
    facts = (e for e in (classified, answered) if isinstance(e, AnswerClassified | CallAnswered))
    answered_by = who_answered([fact.answered_by for fact in facts]) or "human"
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

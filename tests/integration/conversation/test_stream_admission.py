"""Who gets a media stream: only the carrier, for a call we placed, with the token our
TwiML gave that call, once, promptly. Everyone else is closed and leaves no trace."""

from __future__ import annotations

import asyncio
import json
import time
from uuid import uuid4

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from libs.bus import EventBus
from libs.events import CallRequested, MediaStreamStarted, OutcomeRecorded, history_of
from libs.runtime.stream_tokens import issue_stream_token, stream_keys
from tests.integration.conversation.line import ProspectLine, token_for
from tests.integration.conversation.support import (
    AUTH_TOKEN,
    answered_by_machine,
    call_requested,
    conversation_service,
)
from tests.support import stored_events

CALL_SID = "CA" + "2" * 32  # the CallSid ProspectLine streams under
POLICY_VIOLATION, TRY_AGAIN_LATER = 1008, 1013


def expired_token(call_id) -> str:
    return token_for(call_id, CALL_SID, issued_at=time.time() - 3600)


def forged_token(call_id) -> str:
    [key] = stream_keys("a secret that is not ours", None, None)
    return issue_stream_token(key, call_id, CALL_SID, time.time())


BAD_TOKENS = {
    "missing": lambda call_id: "",
    "garbage": lambda call_id: "v1.9999999999.abc.not-a-mac",
    "forged": forged_token,
    "another call's": lambda call_id: token_for(uuid4(), CALL_SID),
    "another CallSid's": lambda call_id: token_for(call_id, "CA" + "7" * 32),
    "expired": expired_token,
    "unicode": lambda call_id: "v1.²³.ñ.ü",
}


async def close_code_of(socket: ClientConnection) -> int | None:
    async with asyncio.timeout(15):
        await socket.wait_closed()
    return socket.close_code


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_a_stream_without_its_calls_token_is_closed_and_leaves_nothing(
    bus: EventBus, kind: str, log_watch
):
    request = call_requested()
    await bus.publish(request)
    async with conversation_service(bus) as service:
        token = BAD_TOKENS[kind](request.call_id)
        heard = await ProspectLine(service.stream_url, request.call_id, [], token=token).run()
        assert service.runtime.gate.open_streams == 0

    assert heard.close_code == POLICY_VIOLATION
    assert heard.agent_lines == [] and heard.agent_audio_bytes == 0  # no pipeline ran
    stored = await stored_events(bus, history_of("call", request.call_id))
    assert [type(event) for event in stored] == [CallRequested]  # nothing published
    assert service.twilio.hang_ups == []
    assert not any("Media stream started" in str(r["message"]) for r in log_watch.records)


async def test_a_token_replayed_while_its_call_is_live_is_refused(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(answered_by_machine(request))  # a voicemail: the agent talks alone
    token = token_for(request.call_id, CALL_SID)
    async with conversation_service(bus) as service:
        first = ProspectLine(service.stream_url, request.call_id, [], token=token)
        replay = ProspectLine(service.stream_url, request.call_id, [], token=token)
        heard_first, heard_replay = await asyncio.gather(first.run(), replay.run())

    codes = sorted([heard_first.close_code or 0, heard_replay.close_code or 0])
    assert POLICY_VIOLATION in codes and codes != [POLICY_VIOLATION, POLICY_VIOLATION]
    stored = await stored_events(bus, history_of("call", request.call_id))
    assert [type(e) for e in stored].count(MediaStreamStarted) == 1
    assert [type(e) for e in stored].count(OutcomeRecorded) == 1


async def test_a_socket_that_never_sends_start_is_closed_at_the_deadline(bus: EventBus):
    async with conversation_service(bus, stream_start_timeout_seconds=0.3) as service:
        async with connect(service.stream_url) as silent:
            await silent.send(json.dumps({"event": "connected", "protocol": "Call"}))
            code = await close_code_of(silent)
        assert service.runtime.gate.open_streams == 0
    assert code == POLICY_VIOLATION


async def test_connections_beyond_the_cap_are_refused_and_the_freed_place_serves_a_call(
    bus: EventBus,
):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(answered_by_machine(request))
    async with conversation_service(
        bus, max_open_streams=2, stream_start_timeout_seconds=60
    ) as service:
        async with connect(service.stream_url) as one, connect(service.stream_url) as two:
            await one.send(json.dumps({"event": "connected"}))
            await two.send(json.dumps({"event": "connected"}))
            async with connect(service.stream_url) as third:
                refused = await close_code_of(third)
            assert service.runtime.gate.open_streams == 2
        heard = await ProspectLine(service.stream_url, request.call_id, []).run()

    assert refused == TRY_AGAIN_LATER
    assert heard.close_code != TRY_AGAIN_LATER and heard.agent_lines  # the voicemail played


async def test_a_forged_upgrade_signature_is_refused_before_the_upgrade(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(answered_by_machine(request))
    async with conversation_service(bus) as service:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                service.stream_url, additional_headers={"X-Twilio-Signature": "Zm9yZ2Vk"}
            ):
                pass
        signed = RequestValidator(AUTH_TOKEN).compute_signature(service.stream_url, {})
        heard = await ProspectLine(
            service.stream_url, request.call_id, [], headers={"X-Twilio-Signature": signed}
        ).run()

    assert refused.value.response.status_code == 403
    assert heard.agent_lines  # Twilio's own signature admits the stream


async def test_a_refused_stream_does_not_stop_the_next_one(bus: EventBus):
    request = call_requested()
    await bus.publish(request)
    await bus.publish(answered_by_machine(request))
    async with conversation_service(bus) as service:
        async with connect(service.stream_url) as garbage:
            await garbage.send("{not json")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(garbage.recv(), 15)
        heard = await ProspectLine(service.stream_url, request.call_id, []).run()
    assert garbage.close_code == POLICY_VIOLATION
    assert heard.agent_lines

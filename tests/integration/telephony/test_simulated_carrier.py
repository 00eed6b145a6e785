"""The simulated carrier completes a call of every persona kind against a minimal stream
endpoint, through the real service: worker, signed webhooks, TwiML, Media Streams, fake REST."""

import array
import asyncio
import json
import time
import wave
from pathlib import Path
from urllib.parse import urlparse
from uuid import UUID

import httpx
import pytest

from libs.events import (
    AnswerClassified,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRecorded,
    history_of,
    subject_for,
)
from libs.runtime.plugin import ServicePlugin
from libs.runtime.stream_tokens import verify_stream_token
from libs.simulation.personas import choose_persona
from services.telephony.config import SIMULATED_ACCOUNT_SID, TelephonySettings
from services.telephony.plugin import build_telephony_plugin
from services.telephony.simulation.carrier import SimulatedCarrier
from tests.integration.telephony.agent_endpoint import MiniAgent
from tests.integration.telephony.support import (
    call_request,
    listening_socket,
    serving_plugins,
    wait_for_event,
)
from tests.support import stored_events

SEED = 7
TOKEN = "simulated-token-for-tests"
NUMBERS = [f"+1202555{100 + index:04d}" for index in range(25)]


def number_for(kind: str, attempt: int = 1) -> str:
    return next(n for n in NUMBERS if choose_persona(SEED, n, attempt).kind == kind)


def short_voice(text: str, seed: int) -> bytes:
    """A stand-in voice: a quarter second of non-silent mu-law per utterance."""
    return bytes([0x10 + seed % 16]) * 2000


class SimulatedWorld:
    def __init__(self, bus, **settings: object) -> None:
        self.bus = bus
        self.listening, port = listening_socket()
        self.settings = TelephonySettings(
            port=port,
            mode="simulation",
            simulation_seed=SEED,
            simulation_auth_token=TOKEN,
            **{"simulation_pace": 0.0, **settings},  # type: ignore[arg-type]
        )
        self.carrier = SimulatedCarrier(self.settings, short_voice)
        self.agent = MiniAgent(self.settings.simulated_api_base_url, SIMULATED_ACCOUNT_SID, TOKEN)

    def serving(self):
        agent = ServicePlugin(name="agent", route_handlers=[self.agent.handler()])
        telephony = build_telephony_plugin(self.settings, self.carrier)
        return serving_plugins(self.bus, [telephony, agent], self.listening)

    async def outcome(self, call_id: UUID):
        async with asyncio.timeout(30):
            ended = asyncio.create_task(
                wait_for_event(self.bus, subject_for(CallCompleted, call_id), 30)
            )
            failed = asyncio.create_task(
                wait_for_event(self.bus, subject_for(CallFailed, call_id), 30)
            )
            done, pending = await asyncio.wait((ended, failed), return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            return done.pop().result()


def facts(events) -> list[str]:
    return [type(event).__name__ for event in events]


async def test_every_persona_kind_completes_its_call(bus, tmp_path):
    kinds = [
        "interested",
        "lukewarm",
        "not-interested",
        "asks-to-be-removed",
        "voicemail",
        "busy",
        "no-answer",
        "carrier-failure",
    ]
    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    requests = {kind: call_request(phone_number=number_for(kind)) for kind in kinds}
    async with world.serving():
        for request in requests.values():
            await bus.publish(request)
        outcomes = {kind: await world.outcome(r.call_id) for kind, r in requests.items()}
        for kind in ("busy", "no-answer"):  # their callbacks may still be on the way
            assert isinstance(outcomes[kind], CallFailed)
        histories = {
            kind: facts(await stored_events(bus, history_of("call", r.call_id)))
            for kind, r in requests.items()
        }
    # No conversation service here: the AMD verdict answers the call too.
    answered = [
        "CallRequested",
        "CallDialing",
        "CallPlaced",
        "AnswerClassified",
        "CallAnswered",
        "CallCompleted",
    ]
    assert histories == {
        "interested": answered,
        "lukewarm": answered,
        "not-interested": answered,
        "asks-to-be-removed": answered,
        "voicemail": answered,
        "busy": ["CallRequested", "CallDialing", "CallPlaced", "CallFailed"],
        "no-answer": ["CallRequested", "CallDialing", "CallPlaced", "CallFailed"],
        "carrier-failure": ["CallRequested", "CallDialing", "CallFailed"],
    }
    verdicts = {
        kind: (await wait_for_event(bus, subject_for(AnswerClassified, r.call_id))).answered_by
        for kind, r in requests.items()
        if kind in ("interested", "voicemail")
    }
    assert verdicts == {"interested": "human", "voicemail": "machine"}
    # One dial per request that reached the carrier, in its ledger.
    ledger = [json.loads(line) for line in (tmp_path / "carrier" / "dials.jsonl").open()]
    dialled = {kind for kind in kinds if kind != "carrier-failure"}
    assert sorted(line["call_id"] for line in ledger) == sorted(
        str(requests[kind].call_id) for kind in dialled
    )
    assert (outcomes["busy"].reason, outcomes["no-answer"].reason) == ("busy", "no-answer")
    assert (
        outcomes["carrier-failure"].reason,
        outcomes["carrier-failure"].provider_error_code,
    ) == (
        "invalid-number",
        21211,
    )
    for kind in ("interested", "lukewarm", "not-interested", "asks-to-be-removed", "voicemail"):
        await check_stream(world, requests[kind], kind)


async def check_stream(world: SimulatedWorld, request, kind: str) -> None:
    record = world.agent.records[str(request.call_id)]
    placed = await wait_for_event(world.bus, subject_for(CallPlaced, request.call_id))
    persona = choose_persona(
        SEED,
        request.lead.phone_number,
        1,
        contact_name=request.lead.contact_name,
        business_name=request.lead.business_name,
    )
    assert [m["event"] for m in record.messages[:2]] == ["connected", "start"], kind
    assert record.messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    token = record.start.get("customParameters", {}).get("token", "")
    assert record.start == {
        "accountSid": SIMULATED_ACCOUNT_SID,
        "streamSid": record.start["streamSid"],
        "callSid": placed.provider_call_id,
        "tracks": ["inbound"],
        "customParameters": {"call_id": str(request.call_id), "token": token},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    # The token our TwiML gave this call, for the CallSid the carrier streams it under.
    verify_stream_token(
        token,
        (world.settings.media_stream_key,),
        request.call_id,
        placed.provider_call_id,
        time.time(),
    )
    assert record.start["streamSid"].startswith("MZ") and len(record.start["streamSid"]) == 34
    media = record.media
    assert {len(__import__("base64").b64decode(m["payload"])) for m in media} == {160}
    assert [int(m["chunk"]) for m in media] == list(range(1, len(media) + 1))
    assert [int(m["timestamp"]) for m in media] == [20 * i for i in range(len(media))]
    assert {m["track"] for m in media} == {"inbound"}
    # Paced in real time: the frames can arrive late on a busy machine, never early.
    spread = record.media_arrivals[-1] - record.media_arrivals[0]
    assert spread >= (len(media) - 1) * 0.02 - 0.1, (kind, spread, len(media))
    sequence = [int(m["sequenceNumber"]) for m in record.messages[1:]]
    assert sequence == list(range(1, len(sequence) + 1))
    assert record.prospect_lines == list(persona.lines), kind
    # Each reply's mark comes back once its audio has played; a voicemail's one reply is
    # cut short by the agent's own hang-up.
    expected_marks = [f"reply-{n}" for n in range(1, len(persona.lines) + 1)]
    if kind == "voicemail":
        expected_marks = []
    assert record.echoed_marks == expected_marks[: len(record.echoed_marks)], kind
    assert len(record.echoed_marks) >= len(expected_marks) - 1, kind
    assert record.stopped, kind
    agent_ends = kind in ("interested", "voicemail")
    assert record.hung_up_by_agent == agent_ends, kind


async def test_the_time_limit_ends_a_call_the_agent_never_answers(bus, log_watch, tmp_path):
    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    request = call_request(phone_number=number_for("not-interested"), time_limit_seconds=2)
    world.agent.silent_call_ids.add(str(request.call_id))
    async with world.serving():
        await bus.publish(request)
        completed = await world.outcome(request.call_id)
        record = world.agent.records[str(request.call_id)]
    assert isinstance(completed, CallCompleted)
    assert record.stopped and not record.hung_up_by_agent
    assert record.prospect_lines == ["Hello?"]  # never got an answer to go on
    await log_watch.wait_for(lambda r: "ended: time-limit" in str(r["message"]))


async def test_a_busy_lead_answers_on_a_later_attempt(bus, tmp_path):
    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    number = next(
        n
        for n in NUMBERS
        if choose_persona(SEED, n, 1).kind == "busy" and choose_persona(SEED, n, 2).answers
    )
    first, second = call_request(phone_number=number), call_request(phone_number=number, attempt=2)
    async with world.serving():
        await bus.publish(first)
        await bus.publish(second)
        outcomes = [await world.outcome(first.call_id), await world.outcome(second.call_id)]
    assert [type(o).__name__ for o in outcomes] == ["CallFailed", "CallCompleted"]


async def test_the_fake_rest_api_checks_credentials_and_knows_its_calls(bus, tmp_path):
    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    base = world.settings.simulated_api_base_url
    url = f"{base}/2010-04-01/Accounts/{SIMULATED_ACCOUNT_SID}/Calls/CA{'0' * 32}.json"
    async with world.serving(), httpx.AsyncClient() as client:
        wrong = await client.post(
            url, data={"Status": "completed"}, auth=(SIMULATED_ACCOUNT_SID, "x")
        )
        missing = await client.post(url, data={"Status": "completed"})
        unknown = await client.post(
            url, data={"Status": "completed"}, auth=(SIMULATED_ACCOUNT_SID, TOKEN)
        )
    assert (wrong.status_code, wrong.json()["code"]) == (401, 20003)
    assert missing.status_code == 401
    assert (unknown.status_code, unknown.json()["code"]) == (404, 20404)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {
            "MODE": "simulation",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_FROM_NUMBER": "+1",
            "WEBHOOK_BASE_URL": "https://x",
        },
    ],
)
def test_the_simulated_carrier_is_chosen_without_twilio_or_when_asked(environ):
    from services.telephony.config import load_telephony_settings
    from services.telephony.plugin import build_provider

    settings = load_telephony_settings(environ)
    assert settings.carrier == "simulated"
    assert isinstance(build_provider(settings), SimulatedCarrier)
    assert len(settings.auth_token) == 32


async def test_a_stream_that_cannot_connect_still_ends_the_call(bus, log_watch, tmp_path):
    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    request = call_request(phone_number=number_for("interested"))
    telephony = build_telephony_plugin(world.settings, world.carrier)  # no /twilio/stream
    async with serving_plugins(bus, [telephony], world.listening):
        await bus.publish(request)
        completed = await world.outcome(request.call_id)
    assert isinstance(completed, CallCompleted)
    await log_watch.wait_for(lambda r: "Media stream failed" in str(r["message"]))


async def test_stopping_the_campaign_hangs_up_a_live_simulated_call(bus, tmp_path):
    from datetime import UTC, datetime

    from libs.events import CallAnswered, CampaignStopped

    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    request = call_request(phone_number=number_for("interested"), time_limit_seconds=60)
    world.agent.silent_call_ids.add(str(request.call_id))  # the call would otherwise go on
    async with world.serving():
        await bus.publish(request)
        await wait_for_event(bus, subject_for(CallAnswered, request.call_id))
        await bus.publish(
            CampaignStopped(
                event_id=request.campaign_id,
                occurred_at=datetime.now(UTC),
                campaign_id=request.campaign_id,
                reason="stopped by user",
                hang_up_live_calls=True,
            )
        )
        completed = await world.outcome(request.call_id)
        record = world.agent.records[str(request.call_id)]
        await asyncio.wait_for(record.ended.wait(), 10)
    assert isinstance(completed, CallCompleted)
    assert record.stopped and not record.hung_up_by_agent


async def test_a_recorded_call_leaves_a_wav_of_both_sides(bus, tmp_path):
    world = SimulatedWorld(bus, record_calls=True, data_dir=str(tmp_path))
    request = call_request(phone_number=number_for("interested"))
    async with world.serving():
        await bus.publish(request)
        recorded = await wait_for_event(bus, subject_for(CallRecorded, request.call_id), 30)
    path = Path(urlparse(recorded.recording_url).path)
    assert path == tmp_path / "recordings" / f"{request.call_id}.wav"
    with wave.open(str(path)) as recording:
        assert (recording.getnchannels(), recording.getframerate()) == (2, 8000)
        frames = recording.readframes(recording.getnframes())
    samples = array.array("h", frames)
    prospect, agent = samples[0::2], samples[1::2]
    assert max(map(abs, prospect)) > 0 and max(map(abs, agent)) > 0  # both sides were heard
    assert recorded.channels == 2 and recorded.duration_seconds == round(len(prospect) / 8000)


async def test_an_unrecorded_call_leaves_no_recording(bus, tmp_path):
    world = SimulatedWorld(bus, data_dir=str(tmp_path))
    request = call_request(phone_number=number_for("interested"))
    async with world.serving():
        await bus.publish(request)
        await world.outcome(request.call_id)
    assert not (tmp_path / "recordings").exists()


@pytest.mark.parametrize(
    ("kind", "pace", "held_until", "ended_as"),
    [
        ("interested", 0.0, CallAnswered, CallCompleted),
        ("interested", 1000.0, CallPlaced, CallFailed),  # still ringing when it died
    ],
    ids=["answered", "ringing"],
)
async def test_a_restarted_telephony_ends_the_calls_its_carrier_lost(
    bus, tmp_path, log_watch, kind, pace, held_until, ended_as
):
    before = SimulatedWorld(
        bus, data_dir=str(tmp_path), telephony_replica="dialer-0", simulation_pace=pace
    )
    request = call_request(phone_number=number_for(kind), time_limit_seconds=120)
    before.agent.silent_call_ids.add(str(request.call_id))  # it would go on for minutes
    async with before.serving():
        await bus.publish(request)
        await wait_for_event(bus, subject_for(held_until, request.call_id))
    # The process is gone, and its simulated calls with it; the stream still has it live.
    after = SimulatedWorld(bus, data_dir=str(tmp_path), telephony_replica="dialer-0")
    async with after.serving():
        ended = await after.outcome(request.call_id)
        await log_watch.wait_for(lambda r: "Restart: 1 of 1 live calls" in str(r["message"]))
    assert isinstance(ended, ended_as)
    if isinstance(ended, CallFailed):
        assert ended.reason == "dropped"
    assert len((tmp_path / "carrier" / "dials.jsonl").read_text().splitlines()) == 1


async def test_a_restart_leaves_the_calls_of_other_replicas_alone(bus, tmp_path, log_watch):
    other = SimulatedWorld(bus, data_dir=str(tmp_path), telephony_replica="dialer-1")
    request = call_request(phone_number=number_for("interested"), time_limit_seconds=120)
    other.agent.silent_call_ids.add(str(request.call_id))
    async with other.serving():
        await bus.publish(request)
        await wait_for_event(bus, subject_for(CallAnswered, request.call_id))
    mine = SimulatedWorld(bus, data_dir=str(tmp_path), telephony_replica="dialer-0")
    async with mine.serving():
        await log_watch.wait_for(lambda r: "Restart: 0 of 1 live calls" in str(r["message"]))
    facts_now = facts(await stored_events(bus, history_of("call", request.call_id)))
    assert "CallCompleted" not in facts_now and "CallFailed" not in facts_now

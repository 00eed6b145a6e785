"""Twilio's webhooks, signed with the SDK's validator, and the events they leave on NATS."""

import time
import xml.etree.ElementTree as ElementTree
from uuid import uuid4, uuid5

import httpx
import pytest

from libs.events import (
    AnswerClassified,
    CallAnswered,
    CallCompleted,
    CallPlaced,
    CallRecorded,
    history_of,
    subject_for,
)
from libs.runtime.stream_tokens import StreamTokenError, verify_stream_token
from tests.integration.telephony.support import (
    ACCOUNT_SID,
    FakeTwilioApi,
    call_request,
    local_url,
    signed,
    telephony_against,
    wait_for_event,
)
from tests.support import stored_events

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

CALL_SID = "CA" + "ab" * 16


def params(status: str | None = None, **extra: str) -> dict[str, str]:
    values = {"AccountSid": ACCOUNT_SID, "CallSid": CALL_SID, "To": "+12025550143"}
    if status is not None:
        values["CallStatus"] = status
    return {**values, **extra}


class Webhooks:
    """Posts callbacks as Twilio does: to the public URL's path, signed over the public URL."""

    def __init__(self, settings, client: httpx.AsyncClient, call_id) -> None:
        self.settings, self.client, self.call_id = settings, client, call_id

    def public(self, path: str) -> str:
        return f"{self.settings.webhook_base_url}{path}?call_id={self.call_id}"

    async def post(self, path: str, values: dict[str, str], headers=None) -> httpx.Response:
        url = local_url(self.settings, f"{path}?call_id={self.call_id}")
        if headers is None:
            headers = signed(self.public(path), values)
        return await self.client.post(url, data=values, headers=headers)


async def placed_call(bus, settings, client):
    request = call_request()
    await bus.publish(request)
    await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    return request, Webhooks(settings, client, request.call_id)


async def call_facts(bus, request) -> list[tuple[str, object]]:
    events = await stored_events(bus, history_of("call", request.call_id))
    facts = []
    for event in events:
        detail = {
            "CallAnswered": lambda e: e.answered_by,
            "AnswerClassified": lambda e: (e.answered_by, e.detection_seconds),
            "CallCompleted": lambda e: e.duration_seconds,
            "CallFailed": lambda e: (e.reason, e.provider_error_code),
        }.get(type(event).__name__, lambda e: None)(event)
        facts.append((type(event).__name__, detail))
    return facts


async def test_a_call_that_is_answered_and_completed(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        codes = [
            (await hooks.post("/twilio/status", params(status))).status_code
            for status in ("initiated", "ringing", "in-progress")
        ]
        codes.append((await hooks.post("/twilio/amd", params(AnsweredBy="human"))).status_code)
        done = params("completed", CallDuration="42", Duration="1")
        codes.append((await hooks.post("/twilio/status", done)).status_code)
        facts = await call_facts(bus, request)
    assert codes == [204] * 5
    assert facts == [
        ("CallRequested", None),
        ("CallDialing", None),
        ("CallPlaced", None),
        ("AnswerClassified", ("human", None)),
        ("CallAnswered", "human"),
        ("CallCompleted", 42.0),
    ]
    answered = await wait_for_event(bus, subject_for(CallAnswered, request.call_id))
    assert (answered.lead_id, answered.campaign_id) == (request.lead_id, request.campaign_id)


async def test_a_voicemail_is_answered_by_a_machine(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await hooks.post("/twilio/status", params("in-progress"))
        amd = params(AnsweredBy="machine_start", MachineDetectionDuration="3150")
        await hooks.post("/twilio/amd", amd)
        await hooks.post("/twilio/status", params("completed", CallDuration="20"))
        facts = await call_facts(bus, request)
    assert facts[3:] == [
        ("AnswerClassified", ("machine", 3.15)),
        ("CallAnswered", "machine"),
        ("CallCompleted", 20.0),
    ]


async def answered_by_conversation(bus, request) -> None:
    """What conversation stores when the stream opens (AsyncAmd): a person answered."""
    await bus.publish(
        CallAnswered(
            event_id=uuid5(request.call_id, "answered"),
            occurred_at=request.occurred_at,
            call_id=request.call_id,
            lead_id=request.lead_id,
            campaign_id=request.campaign_id,
            answered_by="human",
        )
    )


async def test_a_machine_verdict_after_the_stream_answered_is_recorded_apart(bus):
    # AsyncAmd: the stream opened first and conversation answered the call for a person.
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await answered_by_conversation(bus, request)
        await hooks.post("/twilio/amd", params(AnsweredBy="machine_end_beep"))
        await hooks.post("/twilio/amd", params(AnsweredBy="machine_end_beep"))  # retried
        await hooks.post("/twilio/status", params("completed", CallDuration="20"))
        facts = await call_facts(bus, request)
    assert facts[3:] == [
        ("CallAnswered", "human"),
        ("AnswerClassified", ("machine", None)),
        ("CallCompleted", 20.0),
    ]


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("busy", {}, ("busy", None)),
        ("no-answer", {}, ("no-answer", None)),
        ("canceled", {}, ("canceled", None)),
        ("failed", {"ErrorCode": "21211"}, ("invalid-number", 21211)),
    ],
)
async def test_unanswered_calls_fail_with_the_reason(bus, status, extra, expected):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await hooks.post("/twilio/status", params("ringing"))
        await hooks.post("/twilio/status", params(status, **extra))
        facts = await call_facts(bus, request)
    assert facts[3:] == [("CallFailed", expected)]


async def test_forged_missing_and_misaddressed_signatures_are_refused(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        done = params("completed", CallDuration="42")
        forged = await hooks.post(
            "/twilio/status", done, signed(hooks.public("/twilio/status"), done, "f" * 32)
        )
        missing = await hooks.post("/twilio/status", done, headers={})
        # Signed for the address the request really reached (the Host header), not ours.
        local = local_url(settings, f"/twilio/status?call_id={request.call_id}")
        misaddressed = await hooks.post("/twilio/status", done, signed(local, done))
        tampered_values = {**done, "CallDuration": "1"}
        tampered = await hooks.post(
            "/twilio/status", tampered_values, signed(hooks.public("/twilio/status"), done)
        )
        amd = await hooks.post("/twilio/amd", params(AnsweredBy="human"), headers={})
        twiml = await hooks.post("/twilio/twiml", params("in-progress"), headers={})
        facts = await call_facts(bus, request)
    statuses = [r.status_code for r in (forged, missing, misaddressed, tampered, amd, twiml)]
    assert statuses == [403] * 6
    assert forged.headers["content-type"] == "application/problem+json"
    assert "X-Twilio-Signature" in forged.json()["detail"]
    assert facts == [("CallRequested", None), ("CallDialing", None), ("CallPlaced", None)]


async def test_replayed_callbacks_publish_nothing_new(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        for _ in range(3):
            await hooks.post("/twilio/amd", params(AnsweredBy="human"))
            await hooks.post("/twilio/status", params("completed", CallDuration="42"))
        facts = await call_facts(bus, request)
    assert facts[3:] == [
        ("AnswerClassified", ("human", None)),
        ("CallAnswered", "human"),
        ("CallCompleted", 42.0),
    ]


async def test_out_of_order_callbacks_never_move_a_call_backwards(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await hooks.post("/twilio/status", params("completed", CallDuration="30"))
        await hooks.post("/twilio/amd", params(AnsweredBy="machine_start"))
        await hooks.post("/twilio/status", params("in-progress"))
        await hooks.post("/twilio/status", params("ringing"))
        await hooks.post("/twilio/status", params("no-answer"))
        facts = await call_facts(bus, request)
    assert facts[3:] == [("CallAnswered", "unknown"), ("CallCompleted", 30.0)]


async def test_callbacks_for_unknown_or_malformed_calls_are_refused(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        unknown = Webhooks(settings, client, call_request().call_id)
        not_found = await unknown.post("/twilio/status", params("ringing"))
        malformed = Webhooks(settings, client, "not-a-uuid")
        invalid = await malformed.post("/twilio/status", params("ringing"))
    assert not_found.status_code == 404
    assert "no call was requested" in not_found.json()["detail"]
    assert invalid.status_code == 400
    assert "call_id" in invalid.json()["detail"]


async def test_the_twiml_connects_one_bidirectional_stream_carrying_the_call_id(bus):
    async with telephony_against(bus, FakeTwilioApi()) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        response = await hooks.post("/twilio/twiml", params("in-progress"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    assert root.tag == "Response"
    [connect] = root.findall("Connect")
    [stream] = connect.findall("Stream")
    host = settings.webhook_base_url.removeprefix("https://")
    assert stream.get("url") == f"wss://{host}/twilio/stream"
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert parameters.keys() == {"call_id", "token"}
    assert parameters["call_id"] == str(request.call_id)
    # A token for this call and the CallSid Twilio named, and for no other.
    key = (settings.media_stream_key,)
    verify_stream_token(parameters["token"], key, request.call_id, CALL_SID, time.time())
    with pytest.raises(StreamTokenError):
        verify_stream_token(parameters["token"], key, uuid4(), CALL_SID, time.time())
    with pytest.raises(StreamTokenError):
        verify_stream_token(parameters["token"], key, request.call_id, "CA" + "f" * 32, time.time())
    assert list(root) == [connect] and list(connect) == [stream]


async def test_hanging_up_a_live_call_through_the_route(bus):
    fake = FakeTwilioApi()
    async with telephony_against(bus, fake) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await hooks.post("/twilio/amd", params(AnsweredBy="human"))
        hang_up = local_url(settings, f"/telephony/calls/{request.call_id}/hang-up")
        accepted = await client.post(hang_up)
        await hooks.post("/twilio/status", params("completed", CallDuration="9"))
        ended = await client.post(hang_up)
        never = await client.post(
            local_url(settings, f"/telephony/calls/{call_request().call_id}/hang-up")
        )
    assert accepted.status_code == 202
    assert fake.updates == [(f"CA{1:032x}.json", {"Status": ["completed"]})]
    assert (ended.status_code, never.status_code) == (409, 404)
    completed = await wait_for_event(bus, subject_for(CallCompleted, request.call_id))
    assert completed.duration_seconds == 9.0


async def test_a_fax_that_answers_is_hung_up_at_once(bus):
    fake = FakeTwilioApi()
    async with telephony_against(bus, fake) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await hooks.post("/twilio/amd", params(AnsweredBy="fax"))
        await fake.wait_until(lambda: fake.updates)
    answered = await wait_for_event(bus, subject_for(CallAnswered, request.call_id))
    assert answered.answered_by == "fax"
    assert fake.updates == [(f"CA{1:032x}.json", {"Status": ["completed"]})]


async def test_a_fax_is_hung_up_even_after_the_stream_answered(bus):
    fake = FakeTwilioApi()
    async with telephony_against(bus, fake) as settings, httpx.AsyncClient() as client:
        request, hooks = await placed_call(bus, settings, client)
        await answered_by_conversation(bus, request)
        await hooks.post("/twilio/amd", params(AnsweredBy="fax"))
        await fake.wait_until(lambda: fake.updates)
    classified = await wait_for_event(bus, subject_for(AnswerClassified, request.call_id))
    assert classified.answered_by == "fax"
    assert fake.updates == [(f"CA{1:032x}.json", {"Status": ["completed"]})]


async def test_a_recorded_call_asks_twilio_for_both_channels_and_keeps_the_recording(bus):
    fake = FakeTwilioApi()
    async with (
        telephony_against(bus, fake, record_calls=True) as settings,
        httpx.AsyncClient() as client,
    ):
        request, hooks = await placed_call(bus, settings, client)
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE1"
        recording = params(
            RecordingSid="RE1",
            RecordingUrl=url,
            RecordingStatus="completed",
            RecordingDuration="42",
            RecordingChannels="2",
        )
        stored = await hooks.post("/twilio/recording", recording)
        again = await hooks.post("/twilio/recording", recording)
    [create] = fake.creates
    assert (create["Record"], create["RecordingChannels"]) == (["true"], ["dual"])
    assert create["RecordingStatusCallback"] == [hooks.public("/twilio/recording")]
    assert (stored.status_code, again.status_code) == (204, 204)
    recorded = await wait_for_event(bus, subject_for(CallRecorded, request.call_id))
    assert (recorded.recording_url, recorded.duration_seconds) == (url, 42.0)
    history = await stored_events(bus, history_of("call", request.call_id))
    assert [type(e).__name__ for e in history].count("CallRecorded") == 1  # one, not two

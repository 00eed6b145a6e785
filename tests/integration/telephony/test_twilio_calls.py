"""The Twilio path: the real SDK against a local fake of Twilio's REST API, on a real NATS."""

import re
from datetime import UTC, datetime

import pytest

from libs.compliance.loading import load_default_hours, load_law
from libs.events import CallFailed, CallPlaced, CampaignStopped, subject_for
from services.telephony.twilio_provider import TwilioAccountError, TwilioProvider
from services.telephony.worker import CallDialer
from tests.integration.telephony.support import (
    ACCOUNT_SID,
    FakeTwilioApi,
    call_request,
    listening_socket,
    serving_asgi,
    telephony_against,
    twilio_settings,
    wait_for_event,
    working_clock,
)

# The SDK's own use of aiohttp's BasicAuth: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

INVALID_NUMBER = {
    "code": 21211,
    "message": "The 'To' number +1202555014 is not a valid phone number.",
    "more_info": "https://www.twilio.com/docs/errors/21211",
    "status": 400,
}


async def test_a_requested_call_is_created_with_every_parameter(bus):
    fake = FakeTwilioApi()
    request = call_request(time_limit_seconds=300)
    async with telephony_against(bus, fake) as settings:
        await bus.publish(request)
        placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    base = settings.webhook_base_url
    query = f"call_id={request.call_id}"
    assert fake.creates == [
        {
            "To": ["+12025550143"],
            "From": ["+15005550006"],
            "Url": [f"{base}/twilio/twiml?{query}"],
            "Method": ["POST"],
            "StatusCallback": [f"{base}/twilio/status?{query}"],
            "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
            "StatusCallbackMethod": ["POST"],
            "MachineDetection": ["Enable"],
            "AsyncAmd": ["true"],
            "AsyncAmdStatusCallback": [f"{base}/twilio/amd?{query}"],
            "AsyncAmdStatusCallbackMethod": ["POST"],
            "Timeout": ["25"],
            "TimeLimit": ["120"],  # CALL_TIMEOUT_SECONDS is tighter than the request's
        }
    ]
    assert fake.auth[0].startswith("Basic ")
    assert isinstance(placed, CallPlaced)
    assert (placed.provider, placed.provider_call_id) == ("twilio", f"CA{1:032x}")
    assert (placed.lead_id, placed.campaign_id) == (request.lead_id, request.campaign_id)


async def test_rate_limits_and_server_errors_are_retried(bus):
    busy = {"code": 20429, "message": "Too Many Requests", "status": 429}
    broken = {"code": 20500, "message": "Internal Server Error", "status": 500}
    fake = FakeTwilioApi(scripted=[(429, busy), (503, broken)])
    request = call_request()
    async with telephony_against(bus, fake):
        await bus.publish(request)
        placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    assert len(fake.creates) == 3
    assert placed.provider_call_id == f"CA{3:032x}"


async def test_a_permanent_error_becomes_call_failed_with_twilios_code(bus):
    fake = FakeTwilioApi(scripted=[(400, INVALID_NUMBER)])
    request = call_request(phone_number="+12025550199")
    async with telephony_against(bus, fake):
        await bus.publish(request)
        failed = await wait_for_event(bus, subject_for(CallFailed, request.call_id))
    assert len(fake.creates) == 1  # never retried
    assert isinstance(failed, CallFailed)
    assert (failed.reason, failed.provider_error_code) == ("invalid-number", 21211)
    assert failed.detail == "The 'To' number +1202555014 is not a valid phone number."


async def test_an_unverified_caller_id_fails_without_retrying(bus):
    unverified = {"code": 21210, "message": "'From' phone number not verified", "status": 400}
    fake = FakeTwilioApi(scripted=[(400, unverified)])
    request = call_request()
    async with telephony_against(bus, fake):
        await bus.publish(request)
        failed = await wait_for_event(bus, subject_for(CallFailed, request.call_id))
    assert (failed.reason, failed.provider_error_code, len(fake.creates)) == ("failed", 21210, 1)


async def test_a_redelivered_request_is_not_dialled_twice(bus):
    fake = FakeTwilioApi()
    request = call_request()
    again = request.__class__(**{**_fields(request), "event_id": request.call_id})
    async with telephony_against(bus, fake):
        await bus.publish(request)
        await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
        await bus.publish(again)  # a new event id: JetStream keeps it, the service must not dial
        marker = call_request()
        await bus.publish(marker)
        await wait_for_event(bus, subject_for(CallPlaced, marker.call_id))
    assert [create["To"] for create in fake.creates] == [["+12025550143"], ["+12025550143"]]
    assert len(fake.creates) == 2  # the request and the marker, not the redelivery


async def test_stopping_a_campaign_with_hang_up_ends_its_live_calls(bus):
    fake = FakeTwilioApi()
    first, second = call_request(), call_request()
    other_campaign = call_request()
    second = second.__class__(**{**_fields(second), "campaign_id": first.campaign_id})
    async with telephony_against(bus, fake):
        for request in (first, second, other_campaign):
            await bus.publish(request)
            await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
        stop = CampaignStopped(
            event_id=first.campaign_id,
            occurred_at=datetime.now(UTC),
            campaign_id=first.campaign_id,
            reason="stopped by user",
            hang_up_live_calls=True,
        )
        await bus.publish(stop)
        await fake.wait_until(lambda: len(fake.updates) == 2)
    assert sorted(fake.updates) == [
        (f"CA{1:032x}.json", {"Status": ["canceled"]}),  # still ringing: canceled
        (f"CA{2:032x}.json", {"Status": ["canceled"]}),
    ]


async def test_a_request_for_a_stopped_campaign_is_not_dialled(bus):
    fake = FakeTwilioApi()
    request = call_request()
    stop = CampaignStopped(
        event_id=request.campaign_id,
        occurred_at=datetime.now(UTC),
        campaign_id=request.campaign_id,
        reason="stopped by user",
    )
    async with telephony_against(bus, fake):
        await bus.publish(stop)
        await bus.publish(request)
        failed = await wait_for_event(bus, subject_for(CallFailed, request.call_id))
    assert (failed.reason, fake.creates) == ("canceled", [])


HOURS = load_default_hours({})


def _fields(event):
    return {name: getattr(event, name) for name in event.__struct_fields__}


def test_the_account_sid_is_the_configured_one():
    assert twilio_settings("http://x", "https://y").account_sid == ACCOUNT_SID


class BusThatDropsFirstPlaced:
    """The real bus, except that storing the first CallPlaced fails as if NATS went away."""

    def __init__(self, bus) -> None:
        self.bus, self.dropped = bus, False

    def __getattr__(self, name):
        return getattr(self.bus, name)

    async def publish(self, event):
        if isinstance(event, CallPlaced) and not self.dropped:
            self.dropped = True
            raise ConnectionError("NATS went away")
        return await self.bus.publish(event)


async def test_a_failed_publish_after_dialling_does_not_dial_again(bus):
    fake = FakeTwilioApi()
    api_socket, api_port = listening_socket()
    settings = twilio_settings(f"http://127.0.0.1:{api_port}", "https://calls.example.com")
    provider = TwilioProvider(settings)
    request = call_request()
    dialer = CallDialer(
        BusThatDropsFirstPlaced(bus), provider, settings, load_law({}), HOURS, clock=working_clock
    )
    async with serving_asgi(fake.app(), api_socket), provider.running(), dialer.follower.running():
        with pytest.raises(ConnectionError):
            await dialer.place(request)
        await dialer.place(request)  # the redelivery
    placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    assert (len(fake.creates), placed.provider_call_id) == (1, f"CA{1:032x}")


@pytest.mark.parametrize(
    ("fake", "named"),
    [
        (FakeTwilioApi(refuse_credentials=True), "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN: Twilio"),
        (FakeTwilioApi(owned_numbers={"+15005550001"}), "TWILIO_FROM_NUMBER: +15005550006 is"),
    ],
    ids=["bad-credentials", "someone-elses-number"],
)
async def test_live_telephony_checks_the_account_at_start_and_names_the_fix(fake, named):
    api_socket, api_port = listening_socket()
    settings = twilio_settings(f"http://127.0.0.1:{api_port}", "https://calls.example.com")
    async with serving_asgi(fake.app(), api_socket):
        with pytest.raises(TwilioAccountError, match=f"^{re.escape(named)}"):
            async with TwilioProvider(settings).running():
                pass
        fake.owned_numbers, fake.refuse_credentials = set(), False
        fake.caller_ids = {"+15005550006"}  # a verified caller id may be the From number
        async with TwilioProvider(settings).running():
            pass
    assert fake.creates == []  # nothing was dialled on the way

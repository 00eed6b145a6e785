"""The Twilio path: the real SDK against a local fake of Twilio's REST API, on a real NATS."""

import asyncio
import re
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

import pytest

from libs.compliance.loading import load_default_hours, load_law
from libs.events import (
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallFailed,
    CallPlaced,
    CampaignStopped,
    subject_for,
)
from services.telephony.twilio_provider import TwilioAccountError, TwilioProvider
from services.telephony.worker import CallDialer, DialPendingError
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

# A create bound short enough for a test; a call not listed by then was not dialled.
QUICK_BOUND = {"carrier_create_timeout_seconds": 0.5, "carrier_create_grace_seconds": 0.5}

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


async def test_rate_limits_are_retried(bus):
    busy = {"code": 20429, "message": "Too Many Requests", "status": 429}
    fake = FakeTwilioApi(scripted=[(429, busy), (429, busy)])
    request = call_request()
    async with telephony_against(bus, fake):
        await bus.publish(request)
        placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    assert len(fake.creates) == 3
    assert placed.provider_call_id == f"CA{3:032x}"


async def test_a_server_error_is_looked_up_and_never_created_again(bus):
    broken = {"code": 20500, "message": "Internal Server Error", "status": 500}
    fake = FakeTwilioApi(scripted=[(503, broken)])
    request = call_request()
    async with telephony_against(bus, fake, **QUICK_BOUND):
        await bus.publish(request)
        failed = await wait_for_event(bus, subject_for(CallFailed, request.call_id))
    assert (failed.reason, len(fake.creates)) == ("not-dialled", 1)
    assert fake.listings[0] == {"To": "+12025550143", "From": "+15005550006", "PageSize": "20"}


async def test_a_create_that_times_out_is_found_in_the_calls_list(bus):
    fake = FakeTwilioApi(stalled=1, stalled_lands=True)  # created; its answer never comes
    request = call_request()
    async with telephony_against(bus, fake, **QUICK_BOUND):
        await bus.publish(request)
        placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    assert (placed.provider_call_id, len(fake.creates)) == (f"CA{1:032x}", 1)


async def test_a_create_that_times_out_and_never_lands_was_not_dialled(bus):
    fake = FakeTwilioApi(stalled=1)
    request = call_request()
    async with telephony_against(bus, fake, **QUICK_BOUND):
        await bus.publish(request)
        failed = await wait_for_event(bus, subject_for(CallFailed, request.call_id))
        claim = await wait_for_event(bus, subject_for(CallDialing, request.call_id))
    assert (failed.reason, len(fake.creates)) == ("not-dialled", 1)
    assert failed.detail.startswith(f"claimed by {claim.claimed_by} at ")
    assert len(fake.listings) >= 1


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


def dialer_for(bus, settings, provider=None):
    provider = provider or TwilioProvider(settings)
    return CallDialer(bus, provider, settings, load_law({}), HOURS, clock=working_clock)


@asynccontextmanager
async def dialers_against(bus, fake, *replicas):
    """CallDialers, one per replica name, against the fake; each with its own provider."""
    api_socket, api_port = listening_socket()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving_asgi(fake.app(), api_socket))
        stack.callback(fake.released.set)  # a stalled create must end before its server
        dialers = []
        for replica in replicas:
            settings = twilio_settings(
                f"http://127.0.0.1:{api_port}",
                "https://calls.example.com",
                telephony_replica=replica,
            )
            dialer = dialer_for(bus, settings)
            await stack.enter_async_context(dialer.provider.running())
            await stack.enter_async_context(dialer.follower.running())
            dialers.append(dialer)
        yield dialers


@pytest.mark.parametrize("redelivered_to", ["the-same-process", "a-new-process"])
async def test_a_failed_publish_after_dialling_does_not_dial_again(bus, redelivered_to):
    fake = FakeTwilioApi()
    request = call_request()
    async with dialers_against(bus, fake, "dialer-0", "dialer-0") as (first, restarted):
        first.bus = BusThatDropsFirstPlaced(bus)  # NATS goes away once, for this life
        with pytest.raises(ConnectionError):
            await first.place(request)
        # The redelivery: the claim stands, so the call is looked up, never created again.
        await (first if redelivered_to == "the-same-process" else restarted).place(request)
    placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    assert (len(fake.creates), placed.provider_call_id) == (1, f"CA{1:032x}")
    assert len(fake.listings) == (0 if redelivered_to == "the-same-process" else 1)


async def test_two_replicas_given_one_request_dial_it_once(bus):
    fake = FakeTwilioApi()
    request = call_request()
    async with dialers_against(bus, fake, "dialer-0", "dialer-1") as dialers:
        outcomes = await asyncio.gather(
            *(dialer.place(request) for dialer in dialers), return_exceptions=True
        )
        placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
        for dialer in dialers:  # every redelivery, to either, changes nothing
            await dialer.place(request)
    assert [o for o in outcomes if o is not None and not isinstance(o, DialPendingError)] == []
    assert (len(fake.creates), placed.provider_call_id) == (1, f"CA{1:032x}")
    claim = await wait_for_event(bus, subject_for(CallDialing, request.call_id))
    assert claim.claimed_by.split("/")[0] in ("dialer-0", "dialer-1")


async def test_a_restart_ends_the_calls_twilio_has_ended_since(bus, log_watch):
    fake = FakeTwilioApi()
    mine, other = call_request(), call_request()
    async with dialers_against(bus, fake, "dialer-0", "dialer-1") as (first, second):
        for dialer, request in ((first, mine), (second, other)):
            await bus.publish(request)
            await dialer.place(request)
    for sid in fake.calls:  # both calls ended while no telephony listened
        fake.calls[sid].status, fake.calls[sid].duration = "completed", "31"
        fake.calls[sid].answered_by = "machine_start"
    async with telephony_against(bus, fake, telephony_replica="dialer-0"):
        await log_watch.wait_for(lambda r: "Restart: 1 of 2 live calls" in str(r["message"]))
    completed = await wait_for_event(bus, subject_for(CallCompleted, mine.call_id))
    answered = await wait_for_event(bus, subject_for(CallAnswered, mine.call_id))
    assert (completed.duration_seconds, answered.answered_by) == (31.0, "machine")
    ended_elsewhere = [
        await bus.last_event(subject_for(kind, other.call_id))
        for kind in (CallCompleted, CallFailed)
    ]
    assert ended_elsewhere == [None, None]  # dialer-1's, for dialer-1 to answer for


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

"""Every call legal at the moment it rings: telephony, live, checks the rules once more
against the stream as it is just before asking the carrier, whatever the scheduler decided."""

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from uuid import uuid4

import msgspec
import pytest

from libs.events import (
    CallFailed,
    CallPlaced,
    CallRequested,
    CampaignPaused,
    CampaignStarted,
    Event,
    LeadOptedOut,
    TimeWindow,
    lead_id_for,
    subject_for,
)
from tests.integration.telephony.support import (
    FakeTwilioApi,
    call_request,
    telephony_against,
    wait_for_event,
)

EVERY_DAY_8_TO_11PM = TimeWindow(start=time(8), end=time(23))


def clock_at(moment: datetime) -> Callable[[], datetime]:
    offset = moment - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def request_to(phone_number: str, decided_at: datetime) -> CallRequested:
    """A call to a lead with no best call time of its own, decided at `decided_at`."""
    request = call_request(phone_number=phone_number)
    lead = msgspec.structs.replace(request.lead, best_call_window=None, best_call_time="")
    return msgspec.structs.replace(
        request, occurred_at=decided_at, lead=lead, lead_id=lead_id_for(phone_number)
    )


def campaign_of(request: CallRequested, at: datetime) -> CampaignStarted:
    return CampaignStarted(
        event_id=uuid4(),
        occurred_at=at,
        campaign_id=request.campaign_id,
        name="Late",
        lead_ids=(request.lead_id,),
        max_concurrent_calls=1,
        calling_hours=EVERY_DAY_8_TO_11PM,  # generous: only the law stands in the way
        calling_days=tuple(range(7)),
    )


def opted_out(request: CallRequested, at: datetime) -> LeadOptedOut:
    return LeadOptedOut(
        event_id=uuid4(),
        occurred_at=at,
        lead_id=request.lead_id,
        phone_number=request.lead.phone_number,
        source="call",
    )


def paused(request: CallRequested, at: datetime) -> CampaignPaused:
    return CampaignPaused(
        event_id=uuid4(), occurred_at=at, campaign_id=request.campaign_id, reason="by request"
    )


def earlier_calls(request: CallRequested, at: datetime) -> list[CallPlaced]:
    """Three calls to the same number in the last 24 hours, from other campaigns."""
    return [
        CallPlaced(
            event_id=uuid4(),
            occurred_at=at - timedelta(hours=hours),
            call_id=uuid4(),
            lead_id=request.lead_id,
            campaign_id=uuid4(),
            provider="twilio",
            provider_call_id=f"CA{hours:032x}",
            requested_at=at - timedelta(hours=hours),
        )
        for hours in (20, 6, 1)
    ]


TUESDAY_9PM_WASHINGTON = datetime(2026, 12, 9, 2, 0, 1, tzinfo=UTC)  # 21:00:01 Tue, EST
TUESDAY_NOON_MIAMI = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)
THANKSGIVING_NOON = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
CASES = {
    # Decided at 20:59:59 callee-local, delivered at 21:00:01: the federal window has closed.
    "calling_window": ("+12025550143", TUESDAY_9PM_WASHINGTON, timedelta(seconds=2), []),
    "opted_out": ("+12025550143", TUESDAY_NOON_MIAMI, timedelta(seconds=1), [opted_out]),
    "campaign_paused": ("+12025550143", TUESDAY_NOON_MIAMI, timedelta(seconds=1), [paused]),
    "frequency_cap": ("+13055550181", TUESDAY_NOON_MIAMI, timedelta(seconds=1), [earlier_calls]),
    "holiday": ("+12025550143", THANKSGIVING_NOON, timedelta(seconds=1), []),
    "expired": ("+12025550143", TUESDAY_NOON_MIAMI, timedelta(seconds=45), []),
}
LOCAL_TIME_IN_DETAIL = {
    "calling_window": "Tue 21:00 in America/New_York is outside 08:00-21:00",
    "opted_out": "asked not to be called again",
    "campaign_paused": "the campaign is paused",
    "frequency_cap": "the limit is 3 (US-FL: Fla. Stat. 501.616(6)",
    "holiday": "Thu 12:00 in America/New_York: Thanksgiving Day (US), no calls",
    "expired": "s ago, over the 30s limit; Tue 12:00 in America/New_York",  # 45 s, or more if slow
}


@pytest.mark.parametrize("rule", list(CASES))
async def test_a_call_the_rules_forbid_at_dial_time_never_reaches_the_carrier(bus, rule):
    phone_number, dial_at, lag, after_decision = CASES[rule]
    request = request_to(phone_number, decided_at=dial_at - lag)
    facts: list[Event] = [campaign_of(request, request.occurred_at - timedelta(minutes=5))]
    for make in after_decision:
        made = make(request, request.occurred_at + timedelta(milliseconds=500))
        facts += made if isinstance(made, list) else [made]
    await bus.publish(request)  # decided, waiting for telephony...
    await bus.publish_many(facts)  # ...while the world moves on
    fake = FakeTwilioApi()
    async with telephony_against(bus, fake, clock=clock_at(dial_at)):
        failed = await wait_for_event(bus, subject_for(CallFailed, request.call_id))
    assert fake.creates == []
    assert (failed.reason, failed.rule) == ("canceled", rule)
    assert LOCAL_TIME_IN_DETAIL[rule] in failed.detail


async def test_the_same_call_a_second_earlier_is_dialled(bus):
    """The control: decided at 20:59:58 and dialled at 20:59:59, the call goes out."""
    dial_at = TUESDAY_9PM_WASHINGTON - timedelta(seconds=2)
    request = request_to("+12025550143", decided_at=dial_at - timedelta(seconds=1))
    await bus.publish_many([campaign_of(request, request.occurred_at), request])
    fake = FakeTwilioApi()
    async with telephony_against(bus, fake, clock=clock_at(dial_at)):
        placed = await wait_for_event(bus, subject_for(CallPlaced, request.call_id))
    assert [create["To"] for create in fake.creates] == [["+12025550143"]]
    assert placed.requested_at == request.occurred_at

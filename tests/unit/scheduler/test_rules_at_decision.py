"""The scheduler keeps the same rules when it decides, and takes telephony's refusals
as calls not made: the lead is asked again, and the refusal costs it no attempt."""

from datetime import timedelta
from uuid import uuid4

from libs.compliance import Law
from libs.events import CallFailed, CallPlaced, CallsWithheld
from services.scheduler.domain import DispatchLimits
from services.scheduler.state import RetryPolicy
from tests.unit.scheduler.support import (
    FAST,
    WEDNESDAY_10AM_NEW_YORK,
    imported,
    requests,
    start,
    state_of,
    step,
)

T0 = WEDNESDAY_10AM_NEW_YORK


def test_a_lead_outside_its_window_is_withheld_with_the_rule_and_asked_again_when_it_opens():
    state = state_of(imported(1, zones=("America/Los_Angeles",)))  # 07:00 there
    campaign_id = start(state)
    [withheld] = step(state, T0)
    assert isinstance(withheld, CallsWithheld)
    assert (withheld.rule, withheld.retry_at) == ("calling_window", T0 + timedelta(hours=2))
    assert withheld.detail.startswith("Wed 07:00 in America/Los_Angeles is outside 09:00-17:00")
    assert step(state, T0 + timedelta(minutes=5)) == []  # nothing to decide until it opens
    [call] = requests(step(state, T0 + timedelta(hours=2)))
    assert call.lead.phone_number.endswith("0001")
    assert state.campaigns[campaign_id].not_called == {"calling_window": 1}


def test_a_refusal_at_dial_time_costs_no_attempt_and_the_lead_is_asked_again():
    state = state_of(imported(1), policy=RetryPolicy(max_attempts=1))
    campaign_id = start(state)
    [first] = requests(step(state, T0))
    state.apply(
        CallFailed(
            event_id=uuid4(),
            occurred_at=T0 + timedelta(seconds=1),
            call_id=first.call_id,
            lead_id=first.lead_id,
            campaign_id=campaign_id,
            reason="canceled",
            rule="expired",
            detail="decided 31s ago, over the 30s limit",
        )
    )
    progress = state.campaigns[campaign_id].progress[first.lead_id]
    assert not progress.final  # one attempt allowed, and none was made
    [again] = requests(step(state, T0 + timedelta(minutes=2)))
    assert (again.attempt, again.call_id != first.call_id) == (2, True)
    assert state.campaigns[campaign_id].not_called == {"expired": 1}


def test_the_cap_counts_calls_from_every_campaign():
    state = state_of(imported(1))
    lead_id = next(iter(state.leads))
    for hours in (5, 3, 1):
        state.apply(
            CallPlaced(
                event_id=uuid4(),
                occurred_at=T0 - timedelta(hours=hours),
                call_id=uuid4(),
                lead_id=lead_id,
                campaign_id=uuid4(),  # another campaign
                provider="twilio",
                provider_call_id="CA1",
                requested_at=T0 - timedelta(hours=hours),
            )
        )
    start(state)
    limits = DispatchLimits(max_concurrent_calls=2, law=Law(max_calls_per_24h=3))
    [withheld] = step(state, T0, limits)
    assert isinstance(withheld, CallsWithheld)
    assert withheld.rule == "frequency_cap"
    # The oldest call ages out at 05:00 Thursday in New York; the window opens at 09:00.
    assert withheld.retry_at == T0 + timedelta(hours=23)
    assert requests(step(state, T0, FAST)) == []  # withheld until then, whatever the limits

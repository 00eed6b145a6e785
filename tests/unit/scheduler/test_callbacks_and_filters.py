"""A prospect who asks to be called back gets that call, within the rules and without
spending a retry; filters name our categories or what was uploaded."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import msgspec
import pytest

from libs.events import CallRequested, CallsWithheld, LeadImported, OutcomeRecorded
from services.scheduler.domain import LeadFilter
from services.scheduler.state import MAX_CALLBACKS
from services.scheduler.status import campaign_status
from tests.unit.scheduler.support import (
    FAST,
    WEDNESDAY_10AM_NEW_YORK,
    answered,
    completed,
    imported,
    requests,
    start,
    state_of,
    step,
)

T0 = WEDNESDAY_10AM_NEW_YORK
THURSDAY_11AM_NEW_YORK = T0 + timedelta(days=1, hours=1)


def outcome(call: CallRequested, callback_at) -> OutcomeRecorded:
    return OutcomeRecorded(
        event_id=uuid4(),
        occurred_at=T0 + timedelta(minutes=2),
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        conversation_summary="Busy now; asked for a call tomorrow at eleven.",
        interest_level="medium",
        next_steps="Call back Thu 11:00",
        callback_at=callback_at,
    )


@pytest.mark.parametrize("outcome_first", [True, False], ids=["outcome-first", "end-first"])
def test_a_callback_is_called_then_and_is_not_a_retry(outcome_first):
    state = state_of(imported(1))
    campaign = state.campaigns[start(state)]
    [call] = requests(step(state, T0))
    state.apply(answered(call, T0 + timedelta(seconds=5)))
    ending = [outcome(call, THURSDAY_11AM_NEW_YORK), completed(call, T0 + timedelta(minutes=3))]
    for event in ending if outcome_first else reversed(ending):
        state.apply(event)
    status = campaign_status(state, campaign, T0 + timedelta(minutes=4), FAST)
    assert (status.progress.callbacks_scheduled, status.progress.retry_scheduled) == (1, 0)
    assert status.next_call_at == THURSDAY_11AM_NEW_YORK
    assert requests(step(state, THURSDAY_11AM_NEW_YORK - timedelta(seconds=1))) == []
    [callback] = requests(step(state, THURSDAY_11AM_NEW_YORK))
    assert (callback.lead_id, callback.attempt) == (call.lead_id, 2)
    progress = campaign.progress[call.lead_id]
    assert progress.budget - progress.attempts == 2  # both retries still to spend


def test_a_callback_asked_for_outside_the_hours_waits_for_them():
    state = state_of(imported(1))
    start(state)
    [call] = requests(step(state, T0))
    three_am_new_york = T0.replace(hour=8) + timedelta(days=1)
    state.apply(outcome(call, three_am_new_york))
    state.apply(completed(call, T0 + timedelta(minutes=3)))
    [withheld] = step(state, three_am_new_york)
    assert isinstance(withheld, CallsWithheld) and withheld.rule == "calling_window"
    assert withheld.retry_at == T0 + timedelta(days=1) - timedelta(hours=1)  # 09:00 there


def lead_uploaded_as(n: int, business: str, size: str) -> LeadImported:
    event = imported(n, business_type="Healthcare", company_size="small")
    profile = msgspec.structs.replace(
        event.lead, business_type_original=business, company_size_original=size
    )
    return msgspec.structs.replace(event, lead=profile)


@pytest.mark.parametrize(
    ("business_type", "company_size"),
    [("Dental clinic", None), ("dental CLINIC", None), ("healthcare", "12 employees")],
)
def test_filters_accept_the_uploaded_words_as_well_as_our_categories(business_type, company_size):
    lead = lead_uploaded_as(1, "Dental clinic", "12 employees")
    other = imported(2, business_type="Retail")
    wanted = LeadFilter(business_type=business_type, company_size=company_size)
    assert wanted.refusal(lead.lead) is None
    assert wanted.refusal(other.lead) == "not the requested business_type"


def test_a_prospect_who_always_asks_for_a_callback_is_not_called_for_ever():
    state = state_of(imported(1))
    campaign = state.campaigns[start(state)]
    now, calls = T0, []
    for _ in range(MAX_CALLBACKS + 2):
        made = requests(step(state, now))
        if not made:
            break
        [call] = made
        calls.append(call)
        state.apply(answered(call, now + timedelta(seconds=5)))
        state.apply(outcome(call, now + timedelta(hours=1)))
        state.apply(completed(call, now + timedelta(minutes=3)))
        now += timedelta(hours=1)
    assert len(calls) == 1 + MAX_CALLBACKS
    progress = campaign.progress[calls[0].lead_id]
    assert (progress.final, progress.result) == (True, "completed")
    assert campaign.done

"""Calls the carrier never took or lost, and a machine's verdict that comes late."""

from datetime import timedelta

import pytest

from services.scheduler.state import RECHECK_AFTER, RetryPolicy
from tests.unit.scheduler.support import (
    WEDNESDAY_10AM_NEW_YORK,
    answered,
    classified,
    completed,
    failed,
    imported,
    requests,
    start,
    state_of,
    step,
)

T0 = WEDNESDAY_10AM_NEW_YORK
SECOND = timedelta(seconds=1)


def test_a_call_never_dialled_costs_no_attempt_and_the_lead_is_asked_again():
    state = state_of(imported(1), policy=RetryPolicy(max_attempts=1))
    campaign_id = start(state)
    [first] = requests(step(state, T0))
    state.apply(failed(first, "not-dialled", T0 + SECOND))
    progress = state.campaigns[campaign_id].progress[first.lead_id]
    assert not progress.final and progress.live_call_id is None  # its line is free
    assert requests(step(state, T0 + SECOND + RECHECK_AFTER - SECOND)) == []
    [again] = requests(step(state, T0 + SECOND + RECHECK_AFTER))
    assert (again.attempt, again.call_id != first.call_id) == (2, True)
    assert state.calls[first.call_id].result == "not-dialled"


def test_a_dropped_call_counts_as_an_attempt_and_is_retried():
    state = state_of(imported(1), policy=RetryPolicy(max_attempts=2))
    campaign_id = start(state)
    [first] = requests(step(state, T0))
    state.apply(failed(first, "dropped", T0 + 10 * SECOND))
    progress = state.campaigns[campaign_id].progress[first.lead_id]
    assert (progress.result, progress.attempts, progress.final) == ("dropped", 1, False)
    assert requests(step(state, T0 + timedelta(minutes=29))) == []
    [second] = requests(step(state, T0 + timedelta(minutes=31)))
    assert second.attempt == 2
    state.apply(failed(second, "dropped", T0 + timedelta(minutes=32)))
    assert (progress.result, progress.final) == ("dropped", True)  # out of attempts


@pytest.mark.parametrize("machine_first", [False, True], ids=["stream-first", "verdict-first"])
def test_a_machines_verdict_makes_the_call_a_voicemail_whatever_the_order(machine_first):
    state = state_of(imported(1))
    campaign_id = start(state)
    [call] = requests(step(state, T0))
    person, machine = answered(call, T0 + SECOND), classified(call, T0 + 3 * SECOND, "machine")
    for event in (machine, person) if machine_first else (person, machine):
        state.apply(event)
    state.apply(completed(call, T0 + 30 * SECOND))
    progress = state.campaigns[campaign_id].progress[call.lead_id]
    assert (state.calls[call.call_id].result, progress.final) == ("voicemail", False)
    assert requests(step(state, T0 + timedelta(minutes=31)))[0].attempt == 2


def test_a_persons_verdict_leaves_an_answered_call_completed():
    state = state_of(imported(1))
    start(state)
    [call] = requests(step(state, T0))
    state.apply(answered(call, T0 + SECOND))
    state.apply(classified(call, T0 + 2 * SECOND, "human"))
    state.apply(completed(call, T0 + 30 * SECOND))
    assert state.calls[call.call_id].result == "completed"

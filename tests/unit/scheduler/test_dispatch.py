from copy import copy
from datetime import time, timedelta
from uuid import uuid4

import pytest

from libs.events import (
    CampaignFinished,
    CampaignPaused,
    CampaignStopped,
    LeadOptedOut,
    OutcomeRecorded,
    TimeWindow,
    lead_id_for,
)
from services.scheduler.domain import (
    CampaignStateError,
    DispatchLimits,
    LeadFilter,
    NoLeadsSelectedError,
    NothingToRetryError,
    PermanentResultError,
    UnknownLeadsError,
    next_due_lead,
    pause_by_request,
    requeue,
    resume,
    stop,
)
from tests.unit.scheduler.support import (
    FAST,
    WEDNESDAY_10AM_NEW_YORK,
    answered,
    completed,
    failed,
    imported,
    phone,
    requests,
    start,
    state_of,
    step,
)

T0 = WEDNESDAY_10AM_NEW_YORK
SECOND = timedelta(seconds=1)


def dial_all(state, now, limits=FAST, steps=20):
    """Step the dispatcher once per second; return every call it requested."""
    calls = []
    for tick in range(steps):
        calls += requests(step(state, now + tick * SECOND, limits))
    return calls


def test_never_more_live_calls_than_the_limit_and_one_per_second():
    state = state_of(*(imported(n) for n in range(6)))
    start(state)
    first = requests(step(state, T0))
    assert len(first) == 1
    assert requests(step(state, T0 + 0.5 * SECOND)) == []  # pacing: one per second
    second = requests(step(state, T0 + SECOND))
    assert len(second) == 1
    assert requests(step(state, T0 + 2 * SECOND)) == []  # both lines busy
    state.apply(completed(first[0], T0 + 3 * SECOND))
    assert len(requests(step(state, T0 + 3 * SECOND))) == 1


def test_call_request_carries_the_lead_and_a_derived_call_id():
    lead = imported(1)
    state = state_of(lead)
    campaign_id = start(state)
    [call] = requests(step(state, T0))
    assert (call.lead_id, call.campaign_id, call.attempt, call.lead) == (
        lead.lead_id,
        campaign_id,
        1,
        lead.lead,
    )
    rebuilt = state_of(lead, _started(state))  # the same decision after a restart...
    [replayed] = requests(step(rebuilt, T0))  # ...gives the same ids, so JetStream drops it
    assert (replayed.call_id, replayed.event_id) == (call.call_id, call.event_id)


def _started(state):
    from libs.events import CampaignStarted

    campaign = next(iter(state.campaigns.values()))
    return CampaignStarted(
        event_id=uuid4(),
        occurred_at=campaign.started_at,
        campaign_id=campaign.campaign_id,
        name=campaign.name,
        lead_ids=campaign.lead_ids,
        max_concurrent_calls=campaign.max_concurrent_calls,
        calling_hours=campaign.rules.hours,
        calling_days=campaign.rules.days,
    )


def test_outside_hours_nobody_is_called_until_the_window_opens():
    state = state_of(imported(1), imported(2, zones=("America/Los_Angeles",)))
    start(state)
    calls = dial_all(state, T0, steps=3)
    assert [c.lead.phone_number for c in calls] == [phone(1)]  # 07:00 in Los Angeles
    later = T0 + timedelta(hours=2)  # 09:00 in Los Angeles
    assert [c.lead.phone_number for c in dial_all(state, later, steps=3)] == [phone(2)]


def test_do_not_call_numbers_are_never_dialled():
    state = state_of(imported(1), imported(2))
    start(state)
    lead_2 = state_of(imported(2)).leads.popitem()[0]
    state.apply(
        LeadOptedOut(
            event_id=uuid4(),
            occurred_at=T0,
            lead_id=lead_2,
            phone_number=phone(2),
            source="do-not-call-list",
        )
    )
    calls = dial_all(state, T0)
    assert [c.lead.phone_number for c in calls] == [phone(1)]
    assert state.campaigns[calls[0].campaign_id].progress[lead_2].result == "opted-out"


def test_busy_is_retried_after_30_minutes_then_2_hours_then_given_up():
    state = state_of(imported(1))
    start(state)
    [first] = dial_all(state, T0, steps=1)
    state.apply(failed(first, "busy", T0 + 10 * SECOND))
    assert dial_all(state, T0 + timedelta(minutes=29), steps=2) == []
    [second] = dial_all(state, T0 + timedelta(minutes=31), steps=1)
    assert second.attempt == 2
    state.apply(failed(second, "no-answer", T0 + timedelta(minutes=32)))
    assert dial_all(state, T0 + timedelta(minutes=32 + 119), steps=2) == []
    [third] = dial_all(state, T0 + timedelta(minutes=32 + 121), steps=1)
    assert third.attempt == 3
    state.apply(failed(third, "busy", T0 + timedelta(hours=3)))
    assert dial_all(state, T0 + timedelta(hours=6), steps=2) == []
    progress = state.campaigns[first.campaign_id].progress[first.lead_id]
    assert (progress.final, progress.result, progress.attempts) == (True, "busy", 3)


def test_voicemail_counts_as_an_attempt_and_is_retried():
    state = state_of(imported(1))
    start(state)
    [first] = dial_all(state, T0, steps=1)
    state.apply(answered(first, T0 + SECOND, by="machine"))
    state.apply(completed(first, T0 + 30 * SECOND))
    progress = state.campaigns[first.campaign_id].progress[first.lead_id]
    assert (progress.result, progress.attempts, progress.final) == ("voicemail", 1, False)
    assert dial_all(state, T0 + timedelta(minutes=31), steps=1)[0].attempt == 2


@pytest.mark.parametrize("reason", ["invalid-number", "failed", "canceled"])
def test_a_failure_that_cannot_succeed_is_not_retried(reason):
    state = state_of(imported(1))
    start(state)
    [call] = dial_all(state, T0, steps=1)
    state.apply(failed(call, reason, T0 + SECOND))
    assert dial_all(state, T0 + timedelta(days=1), steps=3) == []


def test_a_call_with_no_final_status_times_out_and_frees_its_line():
    limits = DispatchLimits(
        max_concurrent_calls=1,
        call_timeout=timedelta(seconds=300),
        timeout_margin=timedelta(seconds=60),
    )
    state = state_of(imported(1), imported(2))
    start(state)
    [first] = dial_all(state, T0, limits, steps=1)
    assert step(state, T0 + timedelta(seconds=359), limits) == []
    [timed_out] = step(state, T0 + timedelta(seconds=360), limits)
    assert (timed_out.call_id, timed_out.reason) == (first.call_id, "timeout")
    [second] = requests(step(state, T0 + timedelta(seconds=361), limits))
    assert second.lead.phone_number == phone(2)
    state.apply(completed(first, T0 + timedelta(seconds=400)))  # a late report changes nothing
    assert state.calls[first.call_id].result == "timeout"


def test_a_stopped_campaign_places_no_new_calls():
    state = state_of(*(imported(n) for n in range(3)))
    campaign_id = start(state)
    dial_all(state, T0, steps=1)
    state.apply(
        CampaignStopped(
            event_id=uuid4(), occurred_at=T0, campaign_id=campaign_id, reason="stopped by request"
        )
    )
    assert dial_all(state, T0 + SECOND, steps=5) == []


def test_requeue_gives_failed_leads_another_round():
    state = state_of(imported(1), imported(2))
    campaign_id = start(state)
    first, second = dial_all(state, T0, steps=2)
    state.apply(failed(first, "failed", T0 + 5 * SECOND))
    state.apply(answered(second, T0 + 5 * SECOND))
    state.apply(completed(second, T0 + 9 * SECOND))
    campaign = state.campaigns[campaign_id]
    with pytest.raises(NothingToRetryError, match="no lead of the campaign matches"):
        requeue(campaign, frozenset({"busy"}), None, T0)
    event = requeue(campaign, None, None, T0 + timedelta(minutes=1))
    assert event.lead_ids == (first.lead_id,)  # the reached lead is left alone
    state.apply(event)
    [again] = dial_all(state, T0 + timedelta(minutes=1), steps=1)
    assert (again.lead_id, again.attempt) == (first.lead_id, 2)


@pytest.mark.parametrize("reason", ["invalid-number", "rejected"])
def test_a_permanent_failure_is_never_retried_even_when_asked(reason):
    """A wrong number, or one that unsubscribed from the account (Twilio 21610)."""
    state = state_of(imported(1))
    campaign = state.campaigns[start(state)]
    [call] = dial_all(state, T0, steps=1)
    state.apply(failed(call, reason, T0 + 5 * SECOND))
    with pytest.raises(NothingToRetryError):
        requeue(campaign, None, None, T0 + timedelta(minutes=1))
    with pytest.raises(PermanentResultError, match=f"statuses: {reason} cannot change"):
        requeue(campaign, frozenset({reason, "busy"}), None, T0 + timedelta(minutes=1))


def test_the_failure_brake_pauses_a_campaign_the_carrier_refuses():
    limits = DispatchLimits(max_concurrent_calls=1, brake_window=4, brake_ratio=0.75)
    state = state_of(*(imported(n) for n in range(10)))
    campaign_id = start(state)
    for tick in range(4):
        [call] = requests(step(state, T0 + tick * SECOND, limits))
        state.apply(failed(call, "failed", T0 + tick * SECOND))
    [paused] = step(state, T0 + 5 * SECOND, limits)
    assert isinstance(paused, CampaignPaused) and paused.automatic
    assert paused.reason.startswith("4 of the last 4 calls were refused by the carrier")
    assert dial_all(state, T0 + 6 * SECOND, limits, steps=5) == []
    assert state.campaigns[campaign_id].state == "paused"


def test_the_failure_brake_fires_with_a_window_above_ten():
    limits = DispatchLimits(max_concurrent_calls=1, brake_window=25, brake_ratio=0.8)
    state = state_of(*(imported(n) for n in range(40)), brake_window=25)
    start(state)
    for tick in range(25):
        [call] = requests(step(state, T0 + tick * SECOND, limits))
        state.apply(failed(call, "failed", T0 + tick * SECOND))
    [paused] = step(state, T0 + 30 * SECOND, limits)
    assert isinstance(paused, CampaignPaused)
    assert paused.reason.startswith("25 of the last 25 calls were refused by the carrier")


def test_deciding_the_next_lead_changes_nothing_until_its_event_is_folded():
    state = state_of(imported(7, zones=("America/Los_Angeles",)), *(imported(n) for n in range(3)))
    campaign = state.campaigns[start(state, now=T0)]
    queue, progress = list(campaign.queue), {k: copy(v) for k, v in campaign.progress.items()}
    for _ in range(3):  # 10:00 in New York, 07:00 in Los Angeles; asked again and again
        lead_id, withheld = next_due_lead(state, campaign, T0, FAST.law)
        assert campaign.queue == queue and campaign.progress == progress
    assert lead_id is None and [w.rule for w in withheld] == ["calling_window"]
    assert withheld[0].lead_ids == (lead_id_for(phone(7)),)
    state.apply(withheld[0])
    lead_id, withheld = next_due_lead(state, campaign, T0, FAST.law)
    assert withheld == [] and lead_id == lead_id_for(phone(0))


def test_commands_on_a_campaign_have_ids_derived_from_what_was_asked():
    state = state_of(*(imported(n) for n in range(3)))
    campaign = state.campaigns[start(state)]
    first, again = pause_by_request(campaign, T0), pause_by_request(campaign, T0 + SECOND)
    assert first.event_id == again.event_id  # two clicks, one pause: JetStream drops one
    state.apply(first)
    with pytest.raises(CampaignStateError, match="the campaign is paused: it cannot be paused"):
        pause_by_request(campaign, T0)
    resumed = resume(campaign, T0)
    state.apply(resumed)
    assert pause_by_request(campaign, T0).event_id != first.event_id  # a later pause is new
    assert stop(campaign, T0, False).event_id == stop(campaign, T0, True).event_id


def test_a_campaign_finishes_when_every_lead_has_a_final_result():
    state = state_of(imported(1))
    campaign_id = start(state)
    [call] = dial_all(state, T0, steps=1)
    state.apply(answered(call, T0 + SECOND))
    state.apply(completed(call, T0 + 60 * SECOND))
    [finished] = step(state, T0 + 61 * SECOND)
    assert finished == CampaignFinished(
        event_id=finished.event_id,
        occurred_at=T0 + 61 * SECOND,
        campaign_id=campaign_id,
        summary={"completed": 1},
    )
    assert state.campaigns[campaign_id].state == "finished"


def test_selection_says_why_leads_were_left_out():
    opted_out = imported(3)
    state = state_of(
        imported(1),
        imported(2, business_type="Healthcare"),
        opted_out,
        imported(4, zones=()),
        imported(5, status="called"),
        imported(6),
        imported(7),
        imported(8, best=TimeWindow(start=time(7), end=time(9))),
        imported(
            9,
            zones=("America/Chicago", "America/Denver"),
            best=TimeWindow(start=time(9), end=time(10)),
        ),
    )
    state.apply(
        LeadOptedOut(
            event_id=uuid4(),
            occurred_at=T0,
            lead_id=opted_out.lead_id,
            phone_number=phone(3),
            source="call",
        )
    )
    from services.scheduler.domain import CampaignRequest, start_campaign
    from tests.unit.scheduler.support import NINE_TO_FIVE

    request = CampaignRequest(
        name="R",
        rules=NINE_TO_FIVE,
        max_concurrent_calls=5,
        filters=LeadFilter(business_type="restaurant"),
        max_leads=2,
    )
    [event], excluded = start_campaign(state, request, T0)
    assert len(event.lead_ids) == 2
    assert excluded == {
        "not the requested business_type": 1,
        "opted out or on the do-not-call list": 1,
        "no valid time zone": 1,
        "already called": 1,
        "beyond max_leads": 1,
        "best call time outside the calling hours": 1,
        "its time zones are never inside the calling hours at once": 1,
    }
    state.apply(event)
    with pytest.raises(NoLeadsSelectedError, match="2 in another running campaign"):
        start_campaign(
            state,
            CampaignRequest(
                name="R",
                rules=NINE_TO_FIVE,
                max_concurrent_calls=5,
                filters=LeadFilter(business_type="restaurant"),
                lead_ids=event.lead_ids,
            ),
            T0,
        )
    with pytest.raises(UnknownLeadsError, match="lead_ids: 1 unknown lead id"):
        start_campaign(
            state,
            CampaignRequest(
                name="R", rules=NINE_TO_FIVE, max_concurrent_calls=5, lead_ids=(uuid4(),)
            ),
            T0,
        )


def test_a_big_selection_travels_in_parts_and_starts_whole(monkeypatch):
    from services.scheduler import domain
    from services.scheduler.domain import CampaignRequest, start_campaign
    from tests.unit.scheduler.support import NINE_TO_FIVE

    monkeypatch.setattr(domain, "LEADS_PER_MESSAGE", 2)
    leads = [imported(n) for n in range(5)]
    request = CampaignRequest(name="Big", rules=NINE_TO_FIVE, max_concurrent_calls=5)
    events, _ = start_campaign(state_of(*leads), request, T0)
    assert [type(e).__name__ for e in events] == [
        "CampaignLeadsAdded",
        "CampaignLeadsAdded",
        "CampaignStarted",
    ]
    assert (events[-1].lead_parts, [e.part for e in events[:2]]) == (2, [1, 2])
    rebuilt = state_of(*leads)
    rebuilt.apply(events[1])  # parts may arrive in any order before the start
    rebuilt.apply(events[0])
    assert rebuilt.campaigns == {}
    rebuilt.apply(events[2])
    assert rebuilt.campaigns[events[2].campaign_id].lead_ids == tuple(e.lead_id for e in leads)


def test_a_paused_campaign_waits_and_a_resumed_one_carries_on():
    from libs.events import CampaignPaused as Paused
    from libs.events import CampaignResumed

    state = state_of(*(imported(n) for n in range(3)))
    campaign_id = start(state)
    [first] = dial_all(state, T0, steps=1)
    state.apply(
        Paused(
            event_id=uuid4(), occurred_at=T0, campaign_id=campaign_id, reason="paused by request"
        )
    )
    assert dial_all(state, T0 + SECOND, steps=5) == []
    state.apply(completed(first, T0 + 2 * SECOND))
    state.apply(CampaignResumed(event_id=uuid4(), occurred_at=T0, campaign_id=campaign_id))
    later = dial_all(state, T0 + 10 * SECOND, steps=3)
    assert [c.lead.phone_number for c in [first, *later]] == [phone(0), phone(1), phone(2)]


def test_a_carrier_clock_behind_ours_does_not_shorten_the_backoff():
    state = state_of(imported(1))
    start(state)
    [call] = dial_all(state, T0, steps=1)
    state.apply(failed(call, "busy", T0 - timedelta(days=2)))  # stamped by a slower clock
    assert dial_all(state, T0 + timedelta(minutes=29), steps=2) == []
    assert dial_all(state, T0 + timedelta(minutes=31), steps=1)[0].attempt == 2


def test_time_a_simulated_clock_skipped_does_not_count_towards_a_time_out():
    limits = DispatchLimits(
        max_concurrent_calls=1,
        call_timeout=timedelta(seconds=300),
        timeout_margin=timedelta(seconds=60),
    )
    state = state_of(imported(1))
    start(state)
    [call] = dial_all(state, T0, limits, steps=1)
    skipped_an_hour = lambda since: timedelta(hours=1) if since <= T0 else timedelta(0)  # noqa: E731
    assert step(state, T0 + timedelta(minutes=65), limits, skipped_an_hour) == []
    [timed_out] = step(state, T0 + timedelta(minutes=66), limits, skipped_an_hour)
    assert timed_out.call_id == call.call_id


def agent_lost(call, at):
    return OutcomeRecorded(
        event_id=uuid4(),
        occurred_at=at,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        conversation_summary="Automatic summary: the agent was lost mid-call.",
        interest_level="low",
        source="fallback",
        failure="agent-lost",
    )


def test_an_answered_call_whose_agent_was_lost_is_retried_and_counts_as_an_attempt():
    state = state_of(imported(1))
    start(state)
    [first] = dial_all(state, T0, steps=1)
    state.apply(answered(first, T0 + SECOND))
    state.apply(completed(first, T0 + 30 * SECOND))
    progress = state.campaigns[first.campaign_id].progress[first.lead_id]
    assert (progress.final, progress.result) == (True, "completed")
    # The sweeper's outcome comes after the carrier's end: the lead is open again.
    lost = agent_lost(first, T0 + 90 * SECOND)
    state.apply(lost)
    state.apply(lost)  # redelivered: changes nothing
    assert (progress.final, progress.result, progress.attempts) == (False, "agent-lost", 1)
    assert state.calls[first.call_id].result == "agent-lost"
    assert dial_all(state, T0 + timedelta(minutes=29), steps=2) == []
    [second] = dial_all(state, T0 + timedelta(minutes=31), steps=1)
    assert second.attempt == 2


def test_an_agent_lost_on_the_last_attempt_ends_the_lead_with_that_reason():
    state = state_of(imported(1))
    start(state)
    [call] = dial_all(state, T0, steps=1)
    state.apply(failed(call, "busy", T0 + SECOND))
    [call] = dial_all(state, T0 + timedelta(minutes=31), steps=1)
    state.apply(failed(call, "busy", T0 + timedelta(minutes=32)))
    [call] = dial_all(state, T0 + timedelta(minutes=32 + 121), steps=1)
    assert call.attempt == 3
    at = T0 + timedelta(hours=3)
    state.apply(answered(call, at))
    # Before the carrier's end this time: the call ends failed, and the end changes nothing.
    state.apply(agent_lost(call, at + timedelta(minutes=1)))
    state.apply(completed(call, at + timedelta(minutes=2)))
    progress = state.campaigns[call.campaign_id].progress[call.lead_id]
    assert (progress.final, progress.result, progress.attempts) == (True, "agent-lost", 3)
    assert dial_all(state, T0 + timedelta(hours=5), steps=3) == []

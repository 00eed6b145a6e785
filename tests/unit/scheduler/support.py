"""Building scheduler states from events, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

from libs.compliance import CallingHours
from libs.events import (
    AnswerClassified,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallRequested,
    Event,
    LeadImported,
    LeadProfile,
    TimeWindow,
    lead_id_for,
)
from services.scheduler.domain import CampaignRequest, DispatchLimits, decide, start_campaign
from services.scheduler.state import RetryPolicy, SchedulerState

WEDNESDAY_10AM_NEW_YORK = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
NINE_TO_FIVE = CallingHours(hours=TimeWindow(start=time(9), end=time(17)))
FAST = DispatchLimits(max_concurrent_calls=2, calls_per_second=1.0)


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


def imported(
    n: int,
    zones: tuple[str, ...] = ("America/New_York",),
    best: TimeWindow | None = None,
    business_type: str = "Restaurant",
    company_size: str = "small",
    status: str = "pending",
) -> LeadImported:
    number = phone(n)
    return LeadImported(
        event_id=uuid4(),
        occurred_at=WEDNESDAY_10AM_NEW_YORK - timedelta(days=1),
        lead_id=lead_id_for(number),
        status=status,
        lead=LeadProfile(
            phone_number=number,
            business_name=f"Business {n}",
            contact_name=f"Contact {n}",
            business_type=business_type,
            company_size=company_size,  # type: ignore[arg-type]
            best_call_window=best,
            time_zones=zones,
        ),
    )


def state_of(
    *events: Event, policy: RetryPolicy | None = None, brake_window: int = 10
) -> SchedulerState:
    state = SchedulerState(policy or RetryPolicy(), brake_window)
    for event in events:
        state.apply(event)  # type: ignore[arg-type]
    return state


def start(
    state: SchedulerState,
    now: datetime = WEDNESDAY_10AM_NEW_YORK,
    max_concurrent_calls: int = 5,
    **filters: object,
) -> UUID:
    request = CampaignRequest(
        name="Spring", rules=NINE_TO_FIVE, max_concurrent_calls=max_concurrent_calls, **filters
    )
    events, _ = start_campaign(state, request, now)
    for event in events:
        state.apply(event)
    return events[-1].campaign_id


def step(
    state: SchedulerState, now: datetime, limits: DispatchLimits = FAST, skipped_since=None
) -> list[Event]:
    """One dispatcher decision, folded back into the state as the dispatcher does."""
    events = decide(state, now, limits, *([skipped_since] if skipped_since else []))
    for event in events:
        state.apply(event)  # type: ignore[arg-type]
    return events


def requests(events: list[Event]) -> list[CallRequested]:
    return [event for event in events if isinstance(event, CallRequested)]


def failed(call: CallRequested, reason: str, at: datetime) -> CallFailed:
    return CallFailed(
        event_id=uuid4(),
        occurred_at=at,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        reason=reason,
    )  # type: ignore[arg-type]


def answered(call: CallRequested, at: datetime, by: str = "human") -> CallAnswered:
    return CallAnswered(
        event_id=uuid4(),
        occurred_at=at,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        answered_by=by,
    )  # type: ignore[arg-type]


def completed(call: CallRequested, at: datetime) -> CallCompleted:
    return CallCompleted(
        event_id=uuid4(),
        occurred_at=at,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        duration_seconds=42,
    )


def classified(call: CallRequested, at: datetime, by: str) -> AnswerClassified:
    """The carrier's answering machine verdict, which may come before or after the answer."""
    return AnswerClassified(
        event_id=uuid4(),
        occurred_at=at,
        call_id=call.call_id,
        lead_id=call.lead_id,
        campaign_id=call.campaign_id,
        answered_by=by,  # type: ignore[arg-type]
        detection_seconds=3.2,
    )

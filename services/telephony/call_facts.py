"""What the stream already knows about a call or a campaign, read by direct gets."""

from __future__ import annotations

from uuid import UUID

from libs.bus import EventBus
from libs.events import (
    CallAnswered,
    CallCompleted,
    CallDialing,
    CallFailed,
    CallPlaced,
    CallRequested,
    subject_filter,
    subject_for,
)
from services.telephony.domain import CallProgress, LiveCall, live_calls, progress_from


async def call_request(bus: EventBus, call_id: UUID) -> CallRequested | None:
    event = await bus.last_event(subject_for(CallRequested, call_id))
    return event if isinstance(event, CallRequested) else None


async def call_placement(bus: EventBus, call_id: UUID) -> CallPlaced | CallFailed | None:
    """The provider's answer to the request, if it was already given."""
    for event_type in (CallPlaced, CallFailed):
        event = await bus.last_event(subject_for(event_type, call_id))
        if isinstance(event, CallPlaced | CallFailed):
            return event
    return None


async def dialing_claim(bus: EventBus, call_id: UUID) -> CallDialing | None:
    """Who claimed dialling the call, if anyone did."""
    event = await bus.last_event(subject_for(CallDialing, call_id))
    return event if isinstance(event, CallDialing) else None


async def call_progress(bus: EventBus, call_id: UUID) -> CallProgress:
    answered = await bus.last_event(subject_for(CallAnswered, call_id))
    failed = await bus.last_event(subject_for(CallFailed, call_id))
    completed = await bus.last_event(subject_for(CallCompleted, call_id))
    return progress_from(
        answered if isinstance(answered, CallAnswered) else None,
        failed if isinstance(failed, CallFailed) else None,
        completed if isinstance(completed, CallCompleted) else None,
    )


async def live_calls_of_campaign(bus: EventBus, campaign_id: UUID) -> list[LiveCall]:
    return [call for call in await live_calls_now(bus) if call.campaign_id == campaign_id]


async def live_calls_now(bus: EventBus) -> list[LiveCall]:
    """Read from the call lifecycle up to now; rare, so no projection."""
    subjects = [subject_filter(t) for t in (CallPlaced, CallAnswered, CallFailed, CallCompleted)]
    events = await bus.events_so_far(*subjects)
    return list(live_calls(events).values())

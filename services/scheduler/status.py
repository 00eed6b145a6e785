"""What a person asks of a campaign: where it stands, what is live, and what comes next."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

from libs.compliance import Callee, next_opening
from services.scheduler.domain import DispatchLimits, LeadFilter, dispatch_gate
from services.scheduler.state import Campaign, Lead, LeadProgress, SchedulerState

# The earliest due time of a group of leads that ring in the same places, and one of them.
Opening = tuple[datetime, Callee]


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    selected: int
    pending: int  # never attempted yet
    live: int
    completed: int  # a person answered and the call ended
    failed: int  # attempts over, nobody reached
    retry_scheduled: int
    callbacks_scheduled: int  # the prospect asked to be called back: not a retry
    opted_out: int


class LiveCall(msgspec.Struct, frozen=True, kw_only=True):
    call_id: UUID
    lead_id: UUID
    business_name: str
    contact_name: str
    attempt: int
    status: str
    seconds: float


class CampaignStatus(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: UUID
    name: str
    state: str  # running, paused outside hours, paused, stopped, finished
    reason: str
    started_at: datetime
    progress: Progress
    live_calls: list[LiveCall]
    next_call_at: datetime | None
    next_call_reason: str
    # Calls the rules kept from being made, by rule (calling_window, frequency_cap, ...):
    # at the scheduler's decision and at telephony's check before dialling.
    not_called: dict[str, int] = msgspec.field(default_factory=dict)


def progress_of(campaign: Campaign) -> Progress:
    values = campaign.progress.values()
    return Progress(
        selected=len(campaign.progress),
        pending=sum(1 for p in values if p.attempts == p.refused and not p.final),
        live=len(campaign.live_call_ids),
        completed=sum(1 for p in values if p.final and p.result == "completed"),
        failed=sum(1 for p in values if p.final and p.result not in ("completed", "opted-out")),
        retry_scheduled=sum(
            1
            for p in values
            if p.attempts > p.refused and p.due_at is not None and p.result != "callback"
        ),
        callbacks_scheduled=sum(1 for p in values if p.result == "callback" and not p.final),
        opted_out=sum(1 for p in values if p.result == "opted-out"),
    )


def campaign_status(
    state: SchedulerState, campaign: Campaign, now: datetime, limits: DispatchLimits
) -> CampaignStatus:
    live_calls = [
        LiveCall(
            call_id=call.call_id,
            lead_id=call.lead_id,
            business_name=state.leads[call.lead_id].profile.business_name,
            contact_name=state.leads[call.lead_id].profile.contact_name,
            attempt=call.attempt,
            status=call.status,
            seconds=round((now - call.requested_at).total_seconds(), 1),
        )
        for call_id in campaign.live_call_ids
        if (call := state.calls[call_id])
    ]
    upcoming = next_call_time(state, campaign, now, limits)
    label = campaign.state
    if label == "running" and upcoming.outside_hours and not live_calls:
        label = "paused outside hours"
    return CampaignStatus(
        campaign_id=campaign.campaign_id,
        name=campaign.name,
        state=label,
        reason=campaign.reason,
        started_at=campaign.started_at,
        progress=progress_of(campaign),
        live_calls=live_calls,
        next_call_at=upcoming.at,
        next_call_reason=upcoming.why,
        not_called=dict(sorted(campaign.not_called.items())),
    )


def _waiting(state: SchedulerState, campaign: Campaign) -> Iterator[tuple[Lead, LeadProgress]]:
    for lead_id, progress in campaign.progress.items():
        if not progress.final and progress.live_call_id is None and progress.due_at is not None:
            yield state.leads[lead_id], progress


@dataclass(frozen=True, slots=True)
class NextCall:
    at: datetime | None  # None: not until something else happens
    why: str
    outside_hours: bool = False  # every waiting lead is outside its calling hours


def next_call_time(
    state: SchedulerState, campaign: Campaign, now: datetime, limits: DispatchLimits
) -> NextCall:
    """When the next call of this campaign can go, and why not sooner."""
    if campaign.state != "running":
        reason = f": {campaign.reason}" if campaign.reason else ""
        return NextCall(None, f"the campaign is {campaign.state}{reason}")
    # Leads sharing zones and a window open together, and a later due time never opens
    # sooner: one opening per group, from its earliest due time, answers for all of it.
    by_place: dict[tuple[object, ...], Opening] = {}
    for lead, progress in _waiting(state, campaign):
        callee = lead.callee
        key = callee.place
        due = max(now, progress.due_at or now)
        if key not in by_place or due < by_place[key][0]:
            by_place[key] = (due, callee)
    openings = [
        opening
        for due, callee in by_place.values()
        if (opening := next_opening(callee, campaign.rules, limits.law, due)) is not None
    ]
    earliest = min(openings, default=None)
    if earliest is None:
        return NextCall(None, "no lead is waiting for a call")
    if earliest > now:
        if all(p.attempts > 0 for _, p in _waiting(state, campaign)):
            return NextCall(earliest, "waiting for retries to fall due")
        return NextCall(earliest, "outside the calling hours of every waiting lead", True)
    if (gate := dispatch_gate(state, campaign, now, limits)) is not None:
        return NextCall(gate.until, gate.reason)
    return NextCall(now, "a call can be placed now")


def pending_leads(
    state: SchedulerState,
    now: datetime,
    *,
    filters: LeadFilter | None = None,
    campaign_id: UUID | None = None,
) -> list[tuple[Lead, str, datetime | None]]:
    """Leads never called, or due for a retry: (lead, why it is pending, due at)."""
    in_campaigns: dict[UUID, LeadProgress] = {}
    for campaign in state.campaigns.values():
        if campaign_id is None or campaign.campaign_id == campaign_id:
            for lead_id, progress in campaign.progress.items():
                in_campaigns[lead_id] = progress
    called = {call.lead_id for call in state.calls.values()}
    filters = filters or LeadFilter()
    rows = []
    for lead in state.leads.values():
        if filters.refusal(lead.profile) is not None or state.is_blocked(lead.lead_id):
            continue
        progress = in_campaigns.get(lead.lead_id)
        if progress is not None and not progress.final and progress.attempts > 0:
            if progress.due_at is not None:
                why = "callback asked for" if progress.result == "callback" else "retry due"
                rows.append((lead, why, progress.due_at))
        elif campaign_id is None and lead.lead_id not in called:
            rows.append((lead, "never called", None))
        elif progress is not None and progress.attempts == 0 and not progress.final:
            rows.append((lead, "never called", progress.due_at))
    return rows

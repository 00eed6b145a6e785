"""The scheduler's decisions: pure functions of (state, now) that return events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from libs.compliance import (
    FEDERAL_HOURS,
    CallingHours,
    Law,
    Refusal,
    check_call,
    next_opening,
    zone_exists,
)
from libs.events import (
    CallFailed,
    CallRequested,
    CallsWithheld,
    CampaignFinished,
    CampaignLeadsAdded,
    CampaignLeadsRequeued,
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    CampaignStopped,
    Event,
    LeadProfile,
    TimeWindow,
    call_id_for,
)
from services.scheduler.state import (
    CARRIER_FAILURES,
    PERMANENT_RESULTS,
    RECHECK_AFTER,
    Call,
    Campaign,
    Lead,
    SchedulerState,
)

# A campaign's id derives from what was asked and when: a replayed decision is the same one.
CAMPAIGN_NAMESPACE = UUID("9b3c4f0e-51d2-4a8e-8f6b-2c7d1e0a9f43")
# Lead ids per message: a big selection travels in parts well under NATS's 1 MB limit.
LEADS_PER_MESSAGE = 5000


@dataclass(frozen=True, slots=True)
class DispatchLimits:
    max_concurrent_calls: int = 5  # across every campaign
    calls_per_second: float = 1.0
    call_timeout: timedelta = timedelta(seconds=300)
    timeout_margin: timedelta = timedelta(seconds=60)
    brake_window: int = 10  # the failure brake looks at this many recent results
    brake_ratio: float = 0.8  # and pauses the campaign when this share failed at the carrier
    law: Law = field(default_factory=Law)  # the calling rules beyond the campaign's hours

    @property
    def pace(self) -> timedelta:
        return timedelta(seconds=1 / self.calls_per_second)


class NoLeadsSelectedError(ValueError):
    def __init__(self, excluded: dict[str, int]) -> None:
        reasons = ", ".join(f"{count} {reason}" for reason, count in excluded.items()) or "none"
        super().__init__(f"no lead matches the campaign's filters (excluded: {reasons})")
        self.excluded = excluded


class UnknownLeadsError(ValueError):
    def __init__(self, lead_ids: list[UUID]) -> None:
        shown = ", ".join(str(lead_id) for lead_id in lead_ids[:5])
        super().__init__(f"lead_ids: {len(lead_ids)} unknown lead id(s): {shown}")
        self.lead_ids = lead_ids


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which leads a campaign or a listing asks for; both read it the same way."""

    business_type: str | None = None
    company_size: str | None = None

    def refusal(self, profile: LeadProfile) -> str | None:
        """Why the lead is left out, or None when it matches. A filter names our category
        or the text that was uploaded ("Dental clinic", "12 employees"), in any case."""
        business = (profile.business_type, profile.business_type_original)
        if self.business_type and not _names(self.business_type, business):
            return "not the requested business_type"
        size = (profile.company_size, profile.company_size_original)
        if self.company_size and not _names(self.company_size, size):
            return "not the requested company_size"
        return None


def _names(wanted: str, values: tuple[str, ...]) -> bool:
    wanted = wanted.strip().casefold()
    return any(value.strip().casefold() == wanted for value in values if value)


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    name: str
    rules: CallingHours
    max_concurrent_calls: int
    filters: LeadFilter = field(default_factory=LeadFilter)
    max_leads: int | None = None
    lead_ids: tuple[UUID, ...] | None = None


def start_campaign(
    state: SchedulerState,
    request: CampaignRequest,
    now: datetime,
    campaign_id: UUID | None = None,
    law: Law | None = None,
) -> tuple[list[CampaignLeadsAdded | CampaignStarted], dict[str, int]]:
    """Select the leads and say why the others were left out.

    Returns the events to publish in order: the parts of a big selection first, then the
    CampaignStarted that names them, so that the campaign never starts half-selected.
    """
    if request.lead_ids is not None:
        unknown = [lead_id for lead_id in request.lead_ids if lead_id not in state.leads]
        if unknown:
            raise UnknownLeadsError(unknown)
        candidates = [state.leads[lead_id] for lead_id in request.lead_ids]
    else:
        candidates = list(state.leads.values())
    busy_elsewhere = {
        lead_id
        for campaign in state.campaigns.values()
        if campaign.state in ("running", "paused")
        for lead_id, progress in campaign.progress.items()
        if not progress.final
    }
    reached = {call.lead_id for call in state.calls.values() if call.result == "completed"}
    law = law or Law()
    opening_known: dict[tuple[object, ...], bool] = {}

    def ever_callable(lead: Lead) -> bool:
        # A few (zones, regions, window) groups cover a whole list: work each out once.
        callee = lead.callee
        key = callee.place
        if key not in opening_known:
            opening_known[key] = next_opening(callee, request.rules, law, now) is not None
        return opening_known[key]

    excluded: Counter[str] = Counter()
    selected: list[UUID] = []
    for lead in candidates:
        profile = lead.profile
        if (unwanted := request.filters.refusal(profile)) is not None:
            excluded[unwanted] += 1
        elif state.is_blocked(lead.lead_id):
            excluded["opted out or on the do-not-call list"] += 1
        elif lead.lead_id in reached or lead.imported_status.lower() not in ("", "pending"):
            excluded["already called"] += 1
        elif lead.lead_id in busy_elsewhere:
            excluded["in another running campaign"] += 1
        elif not has_known_zones(lead):
            excluded["no valid time zone"] += 1
        elif not meets_calling_hours(request.rules, profile.best_call_window):
            excluded["best call time outside the calling hours"] += 1
        elif not ever_callable(lead):
            excluded["its time zones are never inside the calling hours at once"] += 1
        elif request.max_leads is not None and len(selected) >= request.max_leads:
            excluded["beyond max_leads"] += 1
        else:
            selected.append(lead.lead_id)
    if not selected:
        raise NoLeadsSelectedError(dict(excluded))
    campaign_id = campaign_id or uuid5(CAMPAIGN_NAMESPACE, f"{request!r}/{now.isoformat()}")
    first, rest = selected[:LEADS_PER_MESSAGE], selected[LEADS_PER_MESSAGE:]
    parts = [
        CampaignLeadsAdded(
            event_id=uuid5(campaign_id, f"leads/{number}"),
            occurred_at=now,
            campaign_id=campaign_id,
            part=number,
            lead_ids=tuple(rest[offset : offset + LEADS_PER_MESSAGE]),
        )
        for number, offset in enumerate(range(0, len(rest), LEADS_PER_MESSAGE), start=1)
    ]
    started = CampaignStarted(
        event_id=uuid5(campaign_id, "started"),
        occurred_at=now,
        campaign_id=campaign_id,
        name=request.name,
        lead_ids=tuple(first),
        lead_parts=len(parts),
        max_concurrent_calls=request.max_concurrent_calls,
        calling_hours=request.rules.hours,
        calling_days=request.rules.days,
    )
    return [*parts, started], dict(excluded)


def has_known_zones(lead: Lead) -> bool:
    return bool(lead.callee.time_zones) and all(
        zone_exists(name) for name in lead.callee.time_zones
    )


def meets_calling_hours(hours: CallingHours, best: TimeWindow | None) -> bool:
    """The lead's best call time overlaps the campaign's hours inside the federal limit."""
    if best is None:
        return True
    start = max(hours.hours.start, best.start, FEDERAL_HOURS.start)
    return start < min(hours.hours.end, best.end, FEDERAL_HOURS.end)


def no_time_skipped(_: datetime) -> timedelta:
    return timedelta(0)


def decide(
    state: SchedulerState,
    now: datetime,
    limits: DispatchLimits,
    skipped_since: Callable[[datetime], timedelta] = no_time_skipped,
) -> list[Event]:
    """Everything that should happen now: time-outs, brakes, finishes, the next call.

    `skipped_since(t)` is how much a simulated clock jumped after `t`: time no call lived.
    """
    events: list[Event] = [*time_out_calls(state, now, limits, skipped_since)]
    for campaign in state.campaigns.values():
        if campaign.state != "running":
            continue
        if (reason := brake_reason(campaign, limits)) is not None:
            events.append(pause(campaign, reason, now))
        elif campaign.done:
            events.append(finish(campaign, now))
    if not events:
        events += next_call(state, now, limits)
    return events


def call_deadline(
    call: Call,
    limits: DispatchLimits,
    skipped_since: Callable[[datetime], timedelta] = no_time_skipped,
) -> datetime:
    """When a call with no final status is given up: its time limit and a margin for the
    carrier's last report, plus any simulated time that jumped past while it was live."""
    return (
        call.requested_at
        + limits.call_timeout
        + limits.timeout_margin
        + skipped_since(call.requested_at)
    )


def time_out_calls(
    state: SchedulerState,
    now: datetime,
    limits: DispatchLimits,
    skipped_since: Callable[[datetime], timedelta] = no_time_skipped,
) -> list[CallFailed]:
    deadline = limits.call_timeout + limits.timeout_margin
    return [
        CallFailed(
            event_id=uuid5(call.call_id, "timed-out"),
            occurred_at=now,
            call_id=call.call_id,
            lead_id=call.lead_id,
            campaign_id=call.campaign_id,
            reason="timeout",
            detail=f"no final status {deadline.total_seconds():.0f}s after the request",
        )
        for call_id in sorted(state.live_call_ids)
        if call_deadline(call := state.calls[call_id], limits, skipped_since) <= now
    ]


def brake_reason(campaign: Campaign, limits: DispatchLimits) -> str | None:
    recent = list(campaign.recent_results)[-limits.brake_window :]
    if len(recent) < limits.brake_window:
        return None
    failed = sum(1 for result in recent if result in CARRIER_FAILURES)
    if failed / len(recent) < limits.brake_ratio:
        return None
    return (
        f"{failed} of the last {len(recent)} calls were refused by the carrier; "
        "check the caller id and the account before resuming"
    )


def pause(campaign: Campaign, reason: str, now: datetime) -> CampaignPaused:
    return CampaignPaused(
        event_id=uuid5(campaign.campaign_id, f"brake/{campaign.revision}"),
        occurred_at=now,
        campaign_id=campaign.campaign_id,
        reason=reason,
        automatic=True,
    )


def finish(campaign: Campaign, now: datetime) -> CampaignFinished:
    summary = Counter(progress.result or "not called" for progress in campaign.progress.values())
    return CampaignFinished(
        event_id=uuid5(campaign.campaign_id, "finished"),
        occurred_at=now,
        campaign_id=campaign.campaign_id,
        summary=dict(sorted(summary.items())),
    )


@dataclass(frozen=True, slots=True)
class Gate:
    """What holds a campaign's next call back, when it is not the leads themselves."""

    reason: str
    until: datetime | None = None  # None: until a line frees up


def dispatch_gate(
    state: SchedulerState, campaign: Campaign, now: datetime, limits: DispatchLimits
) -> Gate | None:
    """Lines and pace: None when the campaign may place a call now."""
    if len(state.live_call_ids) >= limits.max_concurrent_calls:
        return Gate(f"all {limits.max_concurrent_calls} lines are busy")
    if len(campaign.live_call_ids) >= campaign.max_concurrent_calls:
        return Gate(f"the campaign's {campaign.max_concurrent_calls} lines are busy")
    if state.last_dispatch_at is not None and now < state.last_dispatch_at + limits.pace:
        return Gate("pacing calls to the carrier's rate", state.last_dispatch_at + limits.pace)
    return None


def next_call(
    state: SchedulerState, now: datetime, limits: DispatchLimits
) -> list[CallRequested | CallsWithheld]:
    """The next call, or the leads the rules keep from being called now."""
    for campaign in state.campaigns.values():
        if campaign.state != "running" or dispatch_gate(state, campaign, now, limits):
            continue
        lead_id, withheld = next_due_lead(state, campaign, now, limits.law)
        if withheld:
            return withheld  # folded in first: the next decision picks from what is left
        if lead_id is not None:
            return [request_call(state, campaign, lead_id, now, limits)]
    return []


def next_due_lead(
    state: SchedulerState, campaign: Campaign, now: datetime, law: Law
) -> tuple[UUID | None, list[CallsWithheld]]:
    """The first lead due now whom the rules allow a call, and the due leads they refuse.

    Reads the queue and changes nothing: a refused lead moves when its CallsWithheld is
    folded in, the chosen lead when its CallRequested is. If publishing fails, nothing
    has moved.
    """
    refused: dict[tuple[str, datetime | None], list[UUID]] = {}
    details: dict[tuple[str, datetime | None], str] = {}
    by_place: dict[tuple[object, ...], Refusal | None] = {}
    chosen: UUID | None = None
    for _, _, lead_id in campaign.due_entries(now):
        lead = state.leads[lead_id]
        facts = state.compliance.facts_for(lead_id, campaign.campaign_id)
        if facts.blocked is None and not facts.recent_calls:
            # Most leads differ only in where they ring: decide once per place.
            callee = lead.callee
            key = callee.place
            if key not in by_place:
                by_place[key] = check_call(callee, facts, campaign.rules, law, now)
            refusal = by_place[key]
        else:
            refusal = check_call(lead.callee, facts, campaign.rules, law, now)
        if refusal is None:
            chosen = lead_id
            break
        retry_at = None if refusal.retry_at is None else max(refusal.retry_at, now + RECHECK_AFTER)
        group = (refusal.rule, retry_at)
        refused.setdefault(group, []).append(lead_id)
        details.setdefault(group, refusal.detail)
    withheld = [
        CallsWithheld(
            event_id=uuid5(campaign.campaign_id, f"withheld/{rule}/{now.isoformat()}/{offset}"),
            occurred_at=now,
            campaign_id=campaign.campaign_id,
            rule=rule,  # type: ignore[arg-type]
            lead_ids=tuple(lead_ids[offset : offset + LEADS_PER_MESSAGE]),
            detail=details[(rule, retry_at)],
            retry_at=retry_at,
        )
        for (rule, retry_at), lead_ids in refused.items()
        for offset in range(0, len(lead_ids), LEADS_PER_MESSAGE)
    ]
    return (chosen if not withheld else None), withheld


def request_call(
    state: SchedulerState, campaign: Campaign, lead_id: UUID, now: datetime, limits: DispatchLimits
) -> CallRequested:
    attempt = campaign.progress[lead_id].attempts + 1
    call_id = call_id_for(campaign.campaign_id, lead_id, attempt)
    return CallRequested(
        event_id=uuid5(call_id, "requested"),
        occurred_at=now,
        call_id=call_id,
        lead_id=lead_id,
        campaign_id=campaign.campaign_id,
        attempt=attempt,
        lead=state.leads[lead_id].profile,
        time_limit_seconds=int(limits.call_timeout.total_seconds()),
    )


class CampaignStateError(ValueError):
    """The campaign is not in a state that allows what was asked."""

    def __init__(self, campaign: Campaign, wanted: str) -> None:
        super().__init__(f"the campaign is {campaign.state}: it cannot be {wanted}")


def stop(campaign: Campaign, now: datetime, hang_up: bool) -> CampaignStopped | None:
    """Stopping is for good, and asking twice is the same stop."""
    if campaign.state not in ("running", "paused"):
        return None
    return CampaignStopped(
        event_id=uuid5(campaign.campaign_id, "stopped"),
        occurred_at=now,
        campaign_id=campaign.campaign_id,
        reason="stopped by request",
        hang_up_live_calls=hang_up,
    )


def pause_by_request(campaign: Campaign, now: datetime) -> CampaignPaused:
    if campaign.state != "running":
        raise CampaignStateError(campaign, "paused")
    return CampaignPaused(
        event_id=uuid5(campaign.campaign_id, f"paused/{campaign.revision}"),
        occurred_at=now,
        campaign_id=campaign.campaign_id,
        reason="paused by request",
    )


def resume(campaign: Campaign, now: datetime) -> CampaignResumed:
    if campaign.state != "paused":
        raise CampaignStateError(campaign, "resumed")
    return CampaignResumed(
        event_id=uuid5(campaign.campaign_id, f"resumed/{campaign.revision}"),
        occurred_at=now,
        campaign_id=campaign.campaign_id,
    )


class NothingToRetryError(ValueError):
    def __init__(self) -> None:
        super().__init__("statuses/within_hours: no lead of the campaign matches")


class PermanentResultError(ValueError):
    def __init__(self, results: list[str]) -> None:
        super().__init__(
            f"statuses: {', '.join(results)} cannot change with another call; "
            "those leads are never retried"
        )


def requeue(
    campaign: Campaign, results: frozenset[str] | None, since: datetime | None, now: datetime
) -> CampaignLeadsRequeued:
    """Give leads whose attempts ended without reaching anyone another round: by default
    every transient result; never a permanent one (PERMANENT_RESULTS)."""
    if results is not None and (permanent := sorted(results & PERMANENT_RESULTS)):
        raise PermanentResultError(permanent)
    chosen = tuple(
        lead_id
        for lead_id, progress in campaign.progress.items()
        if progress.final
        and progress.result not in ("completed", *PERMANENT_RESULTS)
        and (results is None or progress.result in results)
        and (since is None or (progress.result_at is not None and progress.result_at >= since))
    )
    if not chosen:
        raise NothingToRetryError()
    return CampaignLeadsRequeued(
        event_id=uuid5(campaign.campaign_id, f"requeued/{campaign.revision}"),
        occurred_at=now,
        campaign_id=campaign.campaign_id,
        lead_ids=chosen,
        reason=", ".join(sorted(results)) if results else "all ended without reaching anyone",
    )

"""The scheduler's HTTP routes: thin, each a parse, a decision and a publish."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid5

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, JSONBody, Parameter

from libs.compliance import CallingHours
from libs.compliance.regional_rules import parse_hours
from libs.events import LeadOptedOut, lead_id_for
from libs.runtime.uploads import (
    MalformedUploadError,
    NotACsvUploadError,
    UploadTooLargeError,
    receive_upload,
)
from services.scheduler import domain
from services.scheduler.do_not_call import NoPhoneColumnError, NotTextError, read_do_not_call_file
from services.scheduler.domain import (
    CampaignRequest,
    LeadFilter,
    NoLeadsSelectedError,
    UnknownLeadsError,
    start_campaign,
)
from services.scheduler.service import Scheduler, SchedulerNotReadyError
from services.scheduler.state import Campaign
from services.scheduler.status import CampaignStatus, campaign_status, pending_leads


class StartCampaign(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str = ""
    business_type: str | None = None
    company_size: str | None = None
    max_leads: Annotated[int, msgspec.Meta(ge=1)] | None = None
    lead_ids: list[UUID] | None = None
    max_concurrent_calls: Annotated[int, msgspec.Meta(ge=1)] | None = None
    call_hours_start: str | None = None
    call_hours_end: str | None = None
    calling_days: list[Annotated[int, msgspec.Meta(ge=0, le=6)]] | None = None


class CampaignStartedResponse(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: UUID
    name: str
    selected: int
    excluded: dict[str, int]


class RetryCampaign(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    campaign_id: FromQuery[UUID | None] = None
    statuses: list[str] | None = None  # e.g. ["busy", "no-answer"]; default: every failure
    within_hours: Annotated[float, msgspec.Meta(gt=0)] | None = None


class PendingLead(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: UUID
    business_name: str
    contact_name: str
    business_type: str
    company_size: str
    why: str
    due_at: datetime | None


class PendingPage(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    offset: int
    limit: int
    leads: list[PendingLead]


class InvalidCallingHoursError(ValueError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"call_hours_start/call_hours_end: calling {problem}")


def campaign_or_404(scheduler: Scheduler, campaign_id: UUID | None) -> Campaign:
    state = scheduler.state
    campaign = state.campaign_of(campaign_id) if campaign_id else state.latest_campaign()
    if campaign is None:
        which = f"campaign_id: no campaign {campaign_id}" if campaign_id else "no campaign yet"
        raise NotFoundException(detail=which)
    return campaign


def status_of(scheduler: Scheduler, campaign: Campaign) -> CampaignStatus:
    return campaign_status(scheduler.state, campaign, scheduler.clock(), scheduler.limits)


def campaign_request(data: StartCampaign, scheduler: Scheduler, now: datetime) -> CampaignRequest:
    rules = scheduler.rules
    try:
        if data.call_hours_start or data.call_hours_end:
            start = data.call_hours_start or f"{rules.hours.start:%H:%M}"
            end = data.call_hours_end or f"{rules.hours.end:%H:%M}"
            rules = CallingHours(hours=parse_hours(f"{start}-{end}"), days=rules.days)
    except ValueError as exc:
        raise InvalidCallingHoursError(str(exc)) from None
    if data.calling_days is not None:
        rules = CallingHours(hours=rules.hours, days=tuple(sorted(set(data.calling_days))))
    return CampaignRequest(
        name=data.name or f"Campaign {now:%Y-%m-%d %H:%M}",
        rules=rules,
        max_concurrent_calls=min(
            data.max_concurrent_calls or scheduler.limits.max_concurrent_calls,
            scheduler.limits.max_concurrent_calls,
        ),
        filters=LeadFilter(business_type=data.business_type, company_size=data.company_size),
        max_leads=data.max_leads,
        lead_ids=tuple(data.lead_ids) if data.lead_ids is not None else None,
    )


@post("/campaign/start", status_code=201)
async def start(
    scheduler: NamedDependency[Scheduler], data: JSONBody[StartCampaign | None] = None
) -> CampaignStartedResponse:
    """Select leads and start calling them, within the rules."""
    await scheduler.wait_until_caught_up()
    now = scheduler.clock()
    request = campaign_request(data or StartCampaign(), scheduler, now)
    events, excluded = start_campaign(scheduler.state, request, now, law=scheduler.law)
    await scheduler.publish(events)
    campaign = scheduler.state.campaigns[events[-1].campaign_id]
    return CampaignStartedResponse(
        campaign_id=campaign.campaign_id,
        name=campaign.name,
        selected=len(campaign.lead_ids),
        excluded=excluded,
    )


@get("/campaign/status")
async def status(
    scheduler: NamedDependency[Scheduler], campaign_id: FromQuery[UUID | None] = None
) -> CampaignStatus:
    """Where a campaign stands (the latest one unless `campaign_id` says otherwise)."""
    await scheduler.wait_until_caught_up()
    campaign = campaign_or_404(scheduler, campaign_id)
    return status_of(scheduler, campaign)


@post("/campaign/stop", status_code=200)
async def stop(
    scheduler: NamedDependency[Scheduler],
    campaign_id: FromQuery[UUID | None] = None,
    hangup: FromQuery[bool] = False,
) -> CampaignStatus:
    """No new calls; live calls finish, or are ended with `?hangup=true`."""
    campaign = campaign_or_404(scheduler, campaign_id)
    if (event := domain.stop(campaign, scheduler.clock(), hangup)) is not None:
        await scheduler.publish([event])
    return status_of(scheduler, campaign)


@post("/campaign/pause", status_code=200)
async def pause(
    scheduler: NamedDependency[Scheduler], campaign_id: FromQuery[UUID | None] = None
) -> CampaignStatus:
    campaign = campaign_or_404(scheduler, campaign_id)
    await scheduler.publish([domain.pause_by_request(campaign, scheduler.clock())])
    return status_of(scheduler, campaign)


@post("/campaign/resume", status_code=200)
async def resume(
    scheduler: NamedDependency[Scheduler], campaign_id: FromQuery[UUID | None] = None
) -> CampaignStatus:
    campaign = campaign_or_404(scheduler, campaign_id)
    await scheduler.publish([domain.resume(campaign, scheduler.clock())])
    return status_of(scheduler, campaign)


@post("/campaign/retry", status_code=200)
async def retry(
    scheduler: NamedDependency[Scheduler], data: JSONBody[RetryCampaign | None] = None
) -> CampaignStatus:
    """Re-queue the campaign's leads whose attempts ended without reaching anyone."""
    data = data or RetryCampaign()
    campaign = campaign_or_404(scheduler, data.campaign_id)
    now = scheduler.clock()
    since = now - timedelta(hours=data.within_hours) if data.within_hours else None
    statuses = frozenset(data.statuses) if data.statuses else None
    await scheduler.publish([domain.requeue(campaign, statuses, since, now)])
    return campaign_status(scheduler.state, campaign, now, scheduler.limits)


@get("/leads/pending")
async def pending(
    scheduler: NamedDependency[Scheduler],
    business_type: FromQuery[str | None] = None,
    company_size: FromQuery[str | None] = None,
    campaign_id: FromQuery[UUID | None] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 50,
    offset: Annotated[int, Parameter(ge=0)] = 0,
) -> PendingPage:
    """Leads never called, or due for a retry."""
    if campaign_id is not None:
        campaign_or_404(scheduler, campaign_id)
    rows = pending_leads(
        scheduler.state,
        scheduler.clock(),
        filters=LeadFilter(business_type=business_type, company_size=company_size),
        campaign_id=campaign_id,
    )
    return PendingPage(
        total=len(rows),
        offset=offset,
        limit=limit,
        leads=[
            PendingLead(
                lead_id=lead.lead_id,
                business_name=lead.profile.business_name,
                contact_name=lead.profile.contact_name,
                business_type=lead.profile.business_type,
                company_size=lead.profile.company_size,
                why=why,
                due_at=due_at,
            )
            for lead, why, due_at in rows[offset : offset + limit]
        ],
    )


# MAX_DNC_UPLOAD_MB applies instead of Litestar's limit, with a 413 that names it.
@post("/dnc/upload", status_code=200, request_max_body_size=None)
async def upload_do_not_call(
    request: Request[Any, Any, Any], scheduler: NamedDependency[Scheduler]
) -> dict[str, Any]:
    """A do-not-call list (CSV with a phone column): these numbers are never dialled."""
    with tempfile.TemporaryFile() as spool:
        limit = scheduler.settings.dnc_upload_limit
        await receive_upload(request.headers, request.stream(), spool, limit)
        # Parsing a long list takes a while: not on the loop that carries live calls.
        listed = await asyncio.to_thread(
            read_do_not_call_file, spool, scheduler.settings.default_region
        )
    now = scheduler.clock()
    events = [
        LeadOptedOut(
            event_id=uuid5(lead_id_for(number), "do-not-call-list"),
            occurred_at=now,
            lead_id=lead_id_for(number),
            phone_number=number,
            source="do-not-call-list",
        )
        for number in listed.numbers
    ]
    await scheduler.publish(events)
    return {
        "listed": len(listed.numbers),
        "rejected": [{"row": row, "message": why} for row, why in listed.rejected],
    }


PROBLEMS: dict[type[Exception], int] = {
    InvalidCallingHoursError: 422,
    NoLeadsSelectedError: 422,
    UnknownLeadsError: 422,
    domain.NothingToRetryError: 422,
    domain.PermanentResultError: 422,
    domain.CampaignStateError: 409,
    NoPhoneColumnError: 422,
    NotTextError: 422,
    UploadTooLargeError: 413,
    NotACsvUploadError: 415,
    MalformedUploadError: 422,
    SchedulerNotReadyError: 503,
}


def scheduler_router(scheduler: Scheduler) -> Router:
    return Router(
        path="/",
        route_handlers=[start, status, stop, pause, resume, retry, pending, upload_do_not_call],
        dependencies={"scheduler": Provide(lambda: scheduler, sync_to_thread=False)},
        tags=["scheduler"],
    )

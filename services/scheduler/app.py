"""The scheduler's HTTP routes: thin, each a parse, a decision and a publish."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid4, uuid5

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromQuery, JSONBody, Parameter

from libs.compliance import CallingHours
from libs.events import CampaignPaused, CampaignResumed, CampaignStopped, LeadOptedOut, lead_id_for
from services.scheduler.do_not_call import NoPhoneColumnError, read_do_not_call
from services.scheduler.domain import (
    CampaignRequest,
    NoLeadsSelectedError,
    UnknownLeadsError,
    parse_window,
    requeue,
    start_campaign,
)
from services.scheduler.state import Campaign
from services.scheduler.status import CampaignStatus, campaign_status, pending_leads
from services.scheduler.worker import Scheduler, SchedulerNotReadyError


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


def unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=detail)


def campaign_or_404(scheduler: Scheduler, campaign_id: UUID | None) -> Campaign:
    state = scheduler.state
    campaign = state.campaign_of(campaign_id) if campaign_id else state.latest_campaign()
    if campaign is None:
        which = f"campaign_id: no campaign {campaign_id}" if campaign_id else "no campaign yet"
        raise NotFoundException(detail=which)
    return campaign


def status_of(scheduler: Scheduler, campaign: Campaign) -> CampaignStatus:
    return campaign_status(scheduler.state, campaign, scheduler.clock(), scheduler.limits)


async def caught_up(scheduler: Scheduler) -> None:
    try:
        await scheduler.wait_until_caught_up()
    except SchedulerNotReadyError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None


def campaign_request(data: StartCampaign, scheduler: Scheduler, now: datetime) -> CampaignRequest:
    rules = scheduler.rules
    try:
        if data.call_hours_start or data.call_hours_end:
            hours = parse_window(
                data.call_hours_start or f"{rules.hours.start:%H:%M}",
                data.call_hours_end or f"{rules.hours.end:%H:%M}",
            )
            rules = CallingHours(hours=hours, days=rules.days)
    except ValueError as exc:
        raise unprocessable(f"call_hours_start/call_hours_end: {exc}") from None
    if data.calling_days is not None:
        rules = CallingHours(hours=rules.hours, days=tuple(sorted(set(data.calling_days))))
    return CampaignRequest(
        name=data.name or f"Campaign {now:%Y-%m-%d %H:%M}",
        rules=rules,
        max_concurrent_calls=min(
            data.max_concurrent_calls or scheduler.limits.max_concurrent_calls,
            scheduler.limits.max_concurrent_calls,
        ),
        business_type=data.business_type,
        company_size=data.company_size,
        max_leads=data.max_leads,
        lead_ids=tuple(data.lead_ids) if data.lead_ids is not None else None,
    )


@post("/campaign/start", status_code=201)
async def start(
    scheduler: NamedDependency[Scheduler], data: JSONBody[StartCampaign | None] = None
) -> CampaignStartedResponse:
    """Select leads and start calling them, within the rules."""
    await caught_up(scheduler)
    now = scheduler.clock()
    request = campaign_request(data or StartCampaign(), scheduler, now)
    try:
        events, excluded = start_campaign(scheduler.state, request, now, law=scheduler.law)
    except (NoLeadsSelectedError, UnknownLeadsError) as exc:
        raise unprocessable(str(exc)) from None
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
    await caught_up(scheduler)
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
    if campaign.state in ("running", "paused"):
        now = scheduler.clock()
        await scheduler.publish(
            [
                CampaignStopped(
                    event_id=uuid4(),
                    occurred_at=now,
                    campaign_id=campaign.campaign_id,
                    reason="stopped by request",
                    hang_up_live_calls=hangup,
                )
            ]
        )
    return status_of(scheduler, campaign)


@post("/campaign/pause", status_code=200)
async def pause(
    scheduler: NamedDependency[Scheduler], campaign_id: FromQuery[UUID | None] = None
) -> CampaignStatus:
    campaign = campaign_or_404(scheduler, campaign_id)
    if campaign.state != "running":
        raise HTTPException(status_code=409, detail=f"the campaign is {campaign.state}")
    await scheduler.publish(
        [
            CampaignPaused(
                event_id=uuid4(),
                occurred_at=scheduler.clock(),
                campaign_id=campaign.campaign_id,
                reason="paused by request",
            )
        ]
    )
    return status_of(scheduler, campaign)


@post("/campaign/resume", status_code=200)
async def resume(
    scheduler: NamedDependency[Scheduler], campaign_id: FromQuery[UUID | None] = None
) -> CampaignStatus:
    campaign = campaign_or_404(scheduler, campaign_id)
    if campaign.state != "paused":
        raise HTTPException(status_code=409, detail=f"the campaign is {campaign.state}")
    await scheduler.publish(
        [
            CampaignResumed(
                event_id=uuid4(),
                occurred_at=scheduler.clock(),
                campaign_id=campaign.campaign_id,
            )
        ]
    )
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
    event = requeue(campaign, statuses, since, now)
    if event is None:
        raise unprocessable("statuses/within_hours: no lead of the campaign matches")
    await scheduler.publish([event])
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
        business_type=business_type,
        company_size=company_size,
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


@post("/dnc/upload", status_code=200)
async def upload_do_not_call(
    request: Request[Any, Any, Any], scheduler: NamedDependency[Scheduler]
) -> dict[str, Any]:
    """A do-not-call list (CSV with a phone column): these numbers are never dialled."""
    text = await read_csv_body(request)
    try:
        listed = read_do_not_call(text, scheduler.settings.default_region)
    except NoPhoneColumnError as exc:
        raise unprocessable(str(exc)) from None
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


async def read_csv_body(request: Request[Any, Any, Any]) -> str:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = next(iter(form.values()), None)
        if upload is None or not hasattr(upload, "read"):
            raise unprocessable("file: the form has no file")
        raw = await upload.read()
    else:
        raw = await request.body()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationException(detail="file: not a text CSV file")


def scheduler_router(scheduler: Scheduler) -> Router:
    return Router(
        path="/",
        route_handlers=[start, status, stop, pause, resume, retry, pending, upload_do_not_call],
        dependencies={"scheduler": Provide(lambda: scheduler, sync_to_thread=False)},
        tags=["scheduler"],
    )

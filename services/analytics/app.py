"""The analytics routes, read-only and filtered: statistics and the results download under
/results, and each call with its transcript and events under /calls."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from libs.bus.bus import EventBus
from libs.events import history_of
from services.analytics.calls import (
    CallDetail,
    CallNotProjectedError,
    CallPage,
    UnknownCallError,
    call_detail,
    event_records,
    list_calls,
)
from services.analytics.exports import stream_csv, stream_parquet
from services.analytics.filters import (
    DEFAULT_PAGE,
    PAGE_LIMITS,
    InvalidFilterError,
    Period,
    parse_call_id,
    parse_call_status,
    parse_page,
    parse_period,
)
from services.analytics.replay import read_history
from services.analytics.reports import Statistics, find_campaigns, statistics
from services.analytics.service import Analytics
from services.analytics.store import ProjectionStore, blocking

FORMATS = {
    "csv": ("text/csv; charset=utf-8", stream_csv),
    "parquet": ("application/vnd.apache.parquet", stream_parquet),
}

CampaignQuery = Annotated[
    str | None, QueryParameter(name="campaign", description="campaign id or exact name")
]
FromQuery = Annotated[
    str | None,
    QueryParameter(name="from", description="calls from this ISO date or date-time (UTC)"),
]
ToQuery = Annotated[
    str | None,
    QueryParameter(name="to", description="calls up to this ISO date (inclusive) or date-time"),
]


StatusQuery = Annotated[
    str | None,
    QueryParameter(
        name="status",
        description="a call_status (answered, failed, timeout: every result it stands for) "
        "or a call_result (voicemail, busy, no-answer, not-dialled:frequency_cap, ...); "
        "not-dialled: every refusal",
    ),
]
# Parsed by the route, so that a bad value is a problem naming it; declared as the integers
# they are.
LimitQuery = Annotated[
    str,
    QueryParameter(
        name="limit",
        description=f"calls per page, {PAGE_LIMITS[0]}-{PAGE_LIMITS[1]}",
        schema_extra={
            "type": "integer",
            "minimum": PAGE_LIMITS[0],
            "maximum": PAGE_LIMITS[1],
            "default": DEFAULT_PAGE,
        },
    ),
]
OffsetQuery = Annotated[
    str,
    QueryParameter(
        name="offset",
        description="calls to skip, newest first",
        schema_extra={"type": "integer", "minimum": 0, "default": 0},
    ),
]


async def resolve_campaign(store: ProjectionStore, campaign: str | None) -> UUID | None:
    if campaign is None:
        return None
    async with store.reader() as cursor:
        matches = await blocking(find_campaigns, cursor, campaign)
    if not matches:
        raise InvalidFilterError("campaign", f"no campaign has the id or name {campaign!r}")
    if len(matches) > 1:
        raise InvalidFilterError(
            "campaign", f"{len(matches)} campaigns are named {campaign!r}: use its id"
        )
    return UUID(matches[0])


async def resolve_filters(
    store: ProjectionStore, campaign: str | None, start: str | None, end: str | None
) -> tuple[UUID | None, Period]:
    period = parse_period(start, end)
    return await resolve_campaign(store, campaign), period


def analytics_router(store: ProjectionStore) -> Router:
    @get("/statistics")
    async def results_statistics(
        campaign: CampaignQuery = None, start: FromQuery = None, end: ToQuery = None
    ) -> Statistics:
        """Totals, rates and distributions, overall and by business type, size and campaign."""
        campaign_id, period = await resolve_filters(store, campaign, start, end)
        async with store.reader() as cursor:
            return await blocking(statistics, cursor, campaign_id, period)

    @get("/download")
    async def results_download(
        campaign: CampaignQuery = None,
        start: FromQuery = None,
        end: ToQuery = None,
        format: Annotated[str, QueryParameter(name="format", description="csv or parquet")] = "csv",
    ) -> Stream:
        """One row per lead with its latest attempt, streamed; `format=parquet` for analysts."""
        if format not in FORMATS:
            raise InvalidFilterError("format", f"{format!r} is not one of {', '.join(FORMATS)}")
        campaign_id, period = await resolve_filters(store, campaign, start, end)
        media_type, produce = FORMATS[format]
        return Stream(
            produce(store, campaign_id, period),
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="results.{format}"'},
        )

    return Router(path="/results", route_handlers=[results_statistics, results_download])


def calls_router(analytics: Analytics) -> Router:
    store = analytics.store

    @get("/")
    async def calls_list(
        campaign: CampaignQuery = None,
        status: StatusQuery = None,
        limit: LimitQuery = str(DEFAULT_PAGE),
        offset: OffsetQuery = "0",
    ) -> CallPage:
        """Calls newest first, with how each went, and how many match in all."""
        wanted_status = parse_call_status(status)
        page_limit, page_offset = parse_page(limit, offset)
        campaign_id = await resolve_campaign(store, campaign)
        async with store.reader() as cursor:
            return await blocking(
                list_calls, cursor, campaign_id, wanted_status, page_limit, page_offset
            )

    @get("/{call_id:str}")
    async def call(
        call_id: Annotated[str, PathParameter(description="the call's id (a UUID)")],
        bus: NamedDependency[EventBus],
    ) -> CallDetail:
        """One call: its lead, how it went, the transcript, the outcome, and every event
        about it in stream order."""
        wanted = parse_call_id(call_id)
        history = await read_history(bus, history_of("call", wanted))
        if history:  # the fields below then describe the same events as the list
            await analytics.caught_up_to(history[-1].sequence)
        async with store.reader() as cursor:
            detail = await blocking(call_detail, cursor, wanted)
        if detail is None:
            if history:
                raise CallNotProjectedError(wanted, history[-1].sequence)
            raise UnknownCallError(wanted)
        detail.events = event_records(history)
        return detail

    return Router(path="/calls", route_handlers=[calls_list, call])


def analytics_routers(analytics: Analytics) -> list[Router]:
    return [analytics_router(analytics.store), calls_router(analytics)]


PROBLEMS: dict[type[Exception], int] = {
    InvalidFilterError: 400,
    UnknownCallError: 404,
    CallNotProjectedError: 503,
}

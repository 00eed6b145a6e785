"""The analytics routes: statistics and the results download, read-only and filtered."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Router, get
from litestar.params import QueryParameter
from litestar.response import Stream

from services.analytics.exports import stream_csv, stream_parquet
from services.analytics.filters import InvalidFilterError, Period, parse_period
from services.analytics.reports import Statistics, find_campaigns, statistics
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


async def resolve_filters(
    store: ProjectionStore, campaign: str | None, start: str | None, end: str | None
) -> tuple[UUID | None, Period]:
    period = parse_period(start, end)
    if campaign is None:
        return None, period
    async with store.reader() as cursor:
        matches = await blocking(find_campaigns, cursor, campaign)
    if not matches:
        raise InvalidFilterError("campaign", f"no campaign has the id or name {campaign!r}")
    if len(matches) > 1:
        raise InvalidFilterError(
            "campaign", f"{len(matches)} campaigns are named {campaign!r}: use its id"
        )
    return UUID(matches[0]), period


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


PROBLEMS: dict[type[Exception], int] = {InvalidFilterError: 400}

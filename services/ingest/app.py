"""Ingest's HTTP routes: upload a lead CSV, download the template."""

from __future__ import annotations

import tempfile
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from libs.bus import EventBus
from libs.runtime.problems import problem
from libs.runtime.uploads import (
    MalformedUploadError,
    NotACsvUploadError,
    UploadTooLargeError,
    receive_upload,
)
from services.ingest.columns import DuplicateColumnError, MissingColumnsError
from services.ingest.csv_source import NotACsvError, UnreadableCsvError
from services.ingest.importer import ImportInterruptedError
from services.ingest.service import Ingest, RegistryNotReadyError
from services.ingest.template import TEMPLATE_CSV

PROBLEMS: dict[type[Exception], int] = {
    UploadTooLargeError: 413,
    NotACsvUploadError: 415,
    NotACsvError: 415,
    MalformedUploadError: 422,
    UnreadableCsvError: 422,
    MissingColumnsError: 422,
    DuplicateColumnError: 422,
    RegistryNotReadyError: 503,
    ImportInterruptedError: 503,
}


@post(
    "/leads/upload",
    status_code=200,
    request_max_body_size=None,  # our own limit (MAX_UPLOAD_MB) applies, with a clearer 413
    summary="Import leads from a CSV file",
    description=(
        "A CSV as a multipart file field (`file`) or as a `text/csv` body. Valid rows are "
        "imported and invalid ones reported, unless `strict=true`: then any invalid row "
        "means nothing is imported. A file that is not CSV or lacks a required column is "
        "refused whole."
    ),
)
async def upload_leads(
    request: Request[Any, Any, Any],
    bus: NamedDependency[EventBus],
    ingest: NamedDependency[Ingest],
    strict: bool = Parameter(default=False, description="import nothing if any row is invalid"),
) -> Response[Any]:
    limit = ingest.settings.upload_limit
    with tempfile.TemporaryFile() as spool:
        name = await receive_upload(request.headers, request.stream(), spool, limit)
        report = await ingest.import_csv(spool, bus=bus, name=name, strict=strict)
    if report.refused:
        return problem(422, report.note, report=msgspec.to_builtins(report))
    return Response(report)


@get("/leads/template", sync_to_thread=False, summary="The lead CSV template")
def lead_template() -> Response[str]:
    return Response(
        TEMPLATE_CSV,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leads_template.csv"'},
    )

"""Ingest's HTTP routes: upload a lead CSV, download the template."""

from __future__ import annotations

import tempfile
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter
from loguru import logger

from libs.events import EventBus
from libs.runtime.problems import problem
from services.ingest.columns import DuplicateColumnError, MissingColumnsError
from services.ingest.csv_source import NotACsvError, UnreadableCsvError
from services.ingest.importer import ImportInterruptedError
from services.ingest.service import Ingest, RegistryNotReadyError
from services.ingest.template import TEMPLATE_CSV
from services.ingest.uploads import (
    CSV_MEDIA_TYPES,
    MULTIPART,
    MalformedUploadError,
    UploadTooLargeError,
    receive_body,
    receive_multipart,
    safe_name,
)

_REFUSALS: dict[type[Exception], int] = {
    UploadTooLargeError: 413,
    NotACsvError: 415,
    MalformedUploadError: 422,
    UnreadableCsvError: 422,
    MissingColumnsError: 422,
    DuplicateColumnError: 422,
    RegistryNotReadyError: 503,
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
    media_type, options = _content_type(request.headers.get("content-type", ""))
    limit = ingest.settings.max_upload_bytes
    with tempfile.TemporaryFile() as spool:
        try:
            if media_type == MULTIPART and options.get("boundary"):
                filename = await receive_multipart(
                    request.stream(), options["boundary"], spool, limit
                )
            elif media_type in CSV_MEDIA_TYPES:
                await receive_body(request.stream(), spool, limit)
                filename = request.headers.get("x-filename", "")
            else:
                return problem(
                    415,
                    f"expected a CSV file (text/csv or a multipart file upload), got {media_type}",
                )
            name = safe_name(filename, default="upload.csv")
            report = await ingest.import_csv(spool, bus=bus, name=name, strict=strict)
        except tuple(_REFUSALS) as exc:
            logger.info("Upload refused: {reason}", reason=str(exc))
            return problem(_REFUSALS[type(exc)], str(exc))
        except ImportInterruptedError as exc:
            return problem(503, exc.report.note, report=msgspec.to_builtins(exc.report))
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


def _content_type(header: str) -> tuple[str, dict[str, str]]:
    media_type, _, rest = header.partition(";")
    options = {}
    for option in rest.split(";"):
        key, _, value = option.strip().partition("=")
        if key:
            options[key.lower()] = value.strip().strip('"')
    return media_type.strip().lower(), options

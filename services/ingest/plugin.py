"""Ingest as a plugin of the shared process: its routes and its workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Router
from litestar.di import Provide
from loguru import logger

from libs.bus import EventBus
from libs.runtime.plugin import ServicePlugin
from libs.runtime.settings import load_settings
from libs.runtime.supervision import stop_tasks, supervise
from services.ingest.app import PROBLEMS, lead_template, upload_leads
from services.ingest.columns import DuplicateColumnError, MissingColumnsError
from services.ingest.config import IngestSettings
from services.ingest.csv_source import NotACsvError, UnreadableCsvError
from services.ingest.importer import ImportInterruptedError
from services.ingest.inbox import DropFolder
from services.ingest.service import Ingest, RegistryNotReadyError
from services.ingest.worker import LeadProjection


def build_plugin(environ: Mapping[str, str]) -> ServicePlugin:
    ingest = Ingest(load_settings(IngestSettings, environ))
    router = Router(
        path="/",
        route_handlers=[upload_leads, lead_template],
        dependencies={"ingest": Provide(lambda: ingest, sync_to_thread=False)},
        tags=["leads"],
    )
    return ServicePlugin(
        name="ingest",
        route_handlers=[router],
        workers=lambda bus: _workers(ingest, bus),
        problems=PROBLEMS,
    )


@asynccontextmanager
async def _workers(ingest: Ingest, bus: EventBus) -> AsyncIterator[None]:
    projection = LeadProjection(bus, ingest.registry, ingest.ready)
    ingest.projection = projection
    await projection.start()
    settings = ingest.settings
    drop_folder = DropFolder(ingest, bus, settings.inbox_dir, settings.inbox_poll_seconds)
    tasks = [
        supervise("ingest-drop-folder", drop_folder.run),
        supervise("ingest-start-file", lambda: import_at_start(ingest, bus)),
    ]
    try:
        yield
    finally:
        await stop_tasks(*tasks)
        await projection.stop()
        await ingest.close()


async def import_at_start(ingest: Ingest, bus: EventBus) -> None:
    """The original workflow: the leads file named by LEADS_CSV_PATH, imported idempotently."""
    if not ingest.settings.leads_csv_path:  # unset or empty: no import at start
        return
    path = Path(ingest.settings.leads_csv_path)
    if not await asyncio.to_thread(path.is_file):
        logger.info("LEADS_CSV_PATH {path} not found; nothing imported at start", path=str(path))
        return
    try:
        with await asyncio.to_thread(path.open, "rb") as stream:
            await ingest.import_csv(stream, bus=bus, name=path.name)
    except (
        NotACsvError,
        UnreadableCsvError,
        MissingColumnsError,
        DuplicateColumnError,
        ImportInterruptedError,
        RegistryNotReadyError,
    ) as exc:
        logger.error(
            "LEADS_CSV_PATH {path} was not imported: {error}", path=str(path), error=str(exc)
        )

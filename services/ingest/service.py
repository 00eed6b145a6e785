"""What every way in (upload, drop folder, start-up file, command line) shares: the
registry of known leads, and running one import once it is up to date."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from libs.events import EventBus
from services.ingest.config import IngestSettings
from services.ingest.csv_source import CsvSource
from services.ingest.importer import Importer, Progress
from services.ingest.registry import LeadRegistry
from services.ingest.report import ImportReport

READY_TIMEOUT_SECONDS = 60.0


class RegistryNotReadyError(RuntimeError):
    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"the list of leads already imported was not read from the stream within {timeout:g}s;"
            " try again shortly"
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Ingest:
    settings: IngestSettings
    registry: LeadRegistry = field(default_factory=LeadRegistry)
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the registry caught up
    clock: Callable[[], datetime] = utc_now

    async def import_csv(
        self,
        stream: BinaryIO,
        *,
        bus: EventBus,
        name: str,
        strict: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Refuses a file that is not a lead CSV before importing anything from it."""
        source = CsvSource(stream)
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            raise RegistryNotReadyError(READY_TIMEOUT_SECONDS) from None
        importer = Importer(
            bus=bus,
            registry=self.registry,
            region=self.settings.default_region,
            clock=self.clock,
            chunk_rows=self.settings.publish_chunk_rows,
        )
        return await importer.run(source, name=name, strict=strict, progress=progress)

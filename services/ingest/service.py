"""What every way in (upload, drop folder, start-up file, command line) shares: the
registry of known leads, and running one import once it is up to date."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from libs.bus import EventBus
from services.ingest.config import IngestSettings
from services.ingest.csv_source import CsvSource
from services.ingest.importer import Importer, Progress
from services.ingest.registry import LeadRegistry
from services.ingest.report import ImportReport
from services.ingest.worker import LeadProjection

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
    projection: LeadProjection | None = None  # set once the bus is there
    _pool: ProcessPoolExecutor | None = None

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
        source = await asyncio.to_thread(CsvSource, stream)  # reads and sniffs the head
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT_SECONDS)
            if self.projection is not None:
                await asyncio.wait_for(self.projection.catch_up(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            raise RegistryNotReadyError(READY_TIMEOUT_SECONDS) from None
        importer = Importer(
            bus=bus,
            registry=self.registry,
            region=self.settings.default_region,
            clock=self.clock,
            chunk_rows=self.settings.publish_chunk_rows,
            pool=self._pool_for(source.size),
        )
        if self.projection is not None:
            self.projection.imports_running += 1
        try:
            return await importer.run(source, name=name, strict=strict, progress=progress)
        finally:
            if self.projection is not None:
                self.projection.imports_running -= 1

    def _pool_for(self, size: int) -> Executor | None:
        settings = self.settings
        if settings.validation_processes < 1 or size < settings.parallel_min_mb * 1024 * 1024:
            return None
        if self._pool is None:
            # Spawned, not forked: this process has threads and an event loop running.
            self._pool = ProcessPoolExecutor(
                settings.validation_processes, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    async def close(self) -> None:
        """Stop the validation processes, if any were started."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

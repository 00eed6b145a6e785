"""One import: rows validated a chunk at a time, published pipelined, counted.

While JetStream acknowledges one chunk the next is read and validated, and at most two
chunks are held at once, so memory does not grow with the file. A chunk's leads go into
the registry when they are classified and come out again if their events are not stored,
so a failed import can simply be retried: what was stored counts as duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

import msgspec
from loguru import logger

from libs.bus import EventBus, PublishError
from libs.events import LeadImported
from services.ingest.csv_source import CsvSource
from services.ingest.domain import RowIssue, ValidLead, lead_imported
from services.ingest.registry import Classification, LeadRegistry
from services.ingest.report import ImportReport
from services.ingest.validation import Chunk, validated_chunks

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]  # bytes read, rows read


class ImportInterruptedError(RuntimeError):
    """The event store stopped acknowledging: the report says what was stored."""

    def __init__(self, report: ImportReport, cause: str) -> None:
        super().__init__(report.note)
        self.report, self.cause = report, cause

    def problem_extra(self) -> dict[str, object]:
        return {"report": msgspec.to_builtins(self.report)}


@dataclass
class _Published:
    """A chunk on its way: what it claimed in the registry, to give back if not stored."""

    events: list[LeadImported]
    classifications: list[Classification]
    snapshots: list[int | None]
    last_row: int
    task: asyncio.Task[object] | None = None


@dataclass
class Importer:
    bus: EventBus
    registry: LeadRegistry
    region: str
    clock: Clock
    chunk_rows: int = 500
    pool: Executor | None = None  # a process to validate in; None: on the loop

    async def run(
        self,
        source: CsvSource,
        *,
        name: str,
        strict: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import every valid row; raise ImportInterruptedError if the store stops acking."""
        logger.info("Importing {source} ({bytes} bytes)", source=name, bytes=source.size)
        if strict and (refusal := await self._strict_refusal(source, name)) is not None:
            return refusal
        report = ImportReport(source=name, strict=strict)
        await self._import(source, report, progress)
        report.complete = not report.note  # a read error stops the import at that row
        counts = report.counts
        logger.info(
            "Imported {source}: {received} rows, {imported} new, {updated} updated, "
            "{duplicate} duplicate, {rejected} rejected",
            source=name,
            received=counts.received,
            imported=counts.imported,
            updated=counts.updated,
            duplicate=counts.duplicate,
            rejected=counts.rejected,
        )
        return report

    async def _strict_refusal(self, source: CsvSource, name: str) -> ImportReport | None:
        """Strict: read the whole file first; any rejected row and nothing is imported."""
        report = ImportReport(source=name, strict=True)
        async for chunk in self._chunks(source):
            _tally(report, chunk)
        if not (report.counts.rejected or report.note):
            return None
        report.counts.imported = report.counts.updated = report.counts.duplicate = 0
        report.complete = report.refused = True
        report.note = (report.note + " " if report.note else "") + (
            "Strict import: nothing was imported because some rows were rejected; "
            "fix them and upload the file again."
        )
        logger.info(
            "Refused {source} (strict): {n} rows rejected", source=name, n=report.counts.rejected
        )
        return report

    async def _import(
        self, source: CsvSource, report: ImportReport, progress: Progress | None
    ) -> None:
        import_number = self.registry.next_import()
        in_flight: _Published | None = None
        async for chunk in self._chunks(source):
            _tally(report, chunk)
            published = self._classify(chunk, report, import_number)
            if in_flight is not None:
                await self._settle(in_flight, report, later=published)
            published.task = asyncio.create_task(self.bus.publish_many(published.events))
            in_flight = published
            if progress is not None:
                progress(source.bytes_read, report.counts.received)
        if in_flight is not None:
            await self._settle(in_flight, report, later=None)

    def _chunks(self, source: CsvSource) -> AsyncIterator[Chunk]:
        return validated_chunks(source, self.region, self.chunk_rows, self.pool)

    def _classify(self, chunk: Chunk, report: ImportReport, import_number: int) -> _Published:
        now = self.clock()
        published = _Published([], [], [], chunk.last_row)
        for valid in chunk.valid:
            snapshot = self.registry.snapshot(valid.lead_id)
            classification = self.registry.classify(valid.lead_id, valid.event_id, import_number)
            report.count(classification)
            if classification == "repeated":
                report.add_issues([_repeated(valid)])
            elif classification != "duplicate":
                published.events.append(lead_imported(valid, now=now, source=report.source))
                published.classifications.append(classification)
                published.snapshots.append(snapshot)
        return published

    async def _settle(
        self, published: _Published, report: ImportReport, later: _Published | None
    ) -> None:
        assert published.task is not None
        try:
            stored = await published.task
        except PublishError as exc:
            failed_ids = {event.event_id for event, _ in exc.failed}
            self._give_back(published, report, lambda event: event.event_id in failed_ids)
            if later is not None:
                self._give_back(later, report, lambda event: True)
            first_row = published.last_row  # rows up to the previous chunk are all stored
            report.note = (
                f"The import stopped near row {first_row}: NATS, the event store, did not "
                f"acknowledge {len(failed_ids)} leads ({exc.failed[0][1]}). The leads counted as "
                "imported are stored and valid. Upload the same file again to import the rest: "
                "leads already imported count as duplicates."
            )
            logger.error(
                "Import of {source} interrupted: {error}", source=report.source, error=str(exc)
            )
            raise ImportInterruptedError(report, str(exc)) from None
        for receipt, classification in zip(stored, published.classifications, strict=True):
            if receipt.duplicate:
                report.stored_as_duplicate(classification)

    def _give_back(
        self, published: _Published, report: ImportReport, failed: Callable[[LeadImported], bool]
    ) -> None:
        for event, classification, snapshot in reversed(
            list(zip(published.events, published.classifications, published.snapshots, strict=True))
        ):
            if failed(event):
                self.registry.restore(event.lead_id, snapshot)
                report.uncount(classification)


def _tally(report: ImportReport, chunk: Chunk) -> None:
    report.counts.received += chunk.received
    report.counts.rejected += chunk.rejected
    report.counts.warnings += chunk.warned
    report.add_issues(chunk.issues)
    if chunk.error:
        report.note = (
            f"Reading stopped: {chunk.error}. The valid rows before it were imported; "
            "nothing after it was."
        )


def _repeated(valid: ValidLead) -> RowIssue:
    return RowIssue(
        row=valid.row,
        column="contact_number",
        message="the same number as an earlier row of this file; the earlier row was kept",
        severity="warning",
    )

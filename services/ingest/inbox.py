"""The drop folder: CSV files put into DATA_DIR/inbox/ are imported, then moved beside
their JSON report into inbox/processed/ (or inbox/rejected/ when nothing could be used).

A file is picked up once it has stopped changing between two looks, so one still being
copied in is left alone. A file whose import is interrupted stays in the inbox and is
tried again: what was already stored then counts as duplicate.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

import msgspec
from loguru import logger

from libs.bus import EventBus
from libs.runtime.supervision import mark_running
from services.ingest.columns import DuplicateColumnError, MissingColumnsError
from services.ingest.csv_source import NotACsvError, UnreadableCsvError
from services.ingest.importer import ImportInterruptedError
from services.ingest.report import ImportReport
from services.ingest.service import Ingest, RegistryNotReadyError

SUFFIXES = (".csv", ".tsv", ".txt")
PROCESSED, REJECTED = "processed", "rejected"
_REFUSALS = (NotACsvError, UnreadableCsvError, MissingColumnsError, DuplicateColumnError)


class FileRefused(msgspec.Struct, kw_only=True):
    source: str
    refused: str  # why nothing in the file was imported


class DropFolder:
    def __init__(self, ingest: Ingest, bus: EventBus, inbox: Path, poll_seconds: float) -> None:
        self.ingest, self.bus, self.inbox, self.poll_seconds = ingest, bus, inbox, poll_seconds
        self._last_seen: dict[Path, tuple[int, int]] = {}

    async def run(self) -> None:
        for folder in (self.inbox, self.inbox / PROCESSED, self.inbox / REJECTED):
            folder.mkdir(parents=True, exist_ok=True)
        logger.info("Watching {inbox} for lead files", inbox=str(self.inbox))
        while True:
            for path in self._settled_files():
                await self._import(path)
            mark_running()  # a round done: after a failure, it is watching again
            await asyncio.sleep(self.poll_seconds)

    def _settled_files(self) -> list[Path]:
        settled, seen = [], {}
        for path in sorted(self.inbox.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # moved away meanwhile
            if not path.is_file():
                continue
            seen[path] = (stat.st_size, stat.st_mtime_ns)
            if self._last_seen.get(path) == seen[path]:
                settled.append(path)
        self._last_seen = seen
        return settled

    async def _import(self, path: Path) -> None:
        report: ImportReport | FileRefused
        try:
            with path.open("rb") as stream:
                report = await self.ingest.import_csv(stream, bus=self.bus, name=path.name)
        except _REFUSALS as exc:
            report = FileRefused(source=path.name, refused=str(exc))
            logger.info("Refused {file}: {reason}", file=path.name, reason=str(exc))
        except (ImportInterruptedError, RegistryNotReadyError) as exc:
            logger.warning(
                "Import of {file} will be retried: {error}", file=path.name, error=str(exc)
            )
            self._last_seen.pop(path, None)
            return
        folder = self.inbox / (PROCESSED if _used(report) else REJECTED)
        target = _free_name(folder, path.name)
        report_path = target.with_name(f"{target.stem}.report.json")
        partial = report_path.with_name(f".{report_path.name}.partial")
        partial.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
        os.replace(partial, report_path)
        os.replace(path, target)
        self._last_seen.pop(path, None)
        logger.info("Moved {file} to {folder}", file=path.name, folder=folder.name)


def _used(report: ImportReport | FileRefused) -> bool:
    """Processed when it was read and some row was a valid lead, new or not."""
    if isinstance(report, FileRefused) or report.refused:
        return False
    return report.counts.received > report.counts.rejected


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    if not target.exists():
        return target
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    return folder / f"{Path(name).stem}-{stamp}{Path(name).suffix}"

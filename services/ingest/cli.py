"""`python -m services.ingest import FILE`: import one lead file, with a progress bar.

Publishes straight to NATS_URL, the same way the upload route does (same ids, same
duplicate detection), so it suits files too big to upload comfortably.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import msgspec
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from libs.bus import EventBus
from libs.runtime.logging import configure_logging
from libs.runtime.runner import connect_bus
from libs.runtime.settings import RuntimeSettings, SettingsError, load_settings, read_environment
from services.ingest.columns import DuplicateColumnError, MissingColumnsError
from services.ingest.config import IngestSettings
from services.ingest.csv_source import NotACsvError, UnreadableCsvError
from services.ingest.importer import ImportInterruptedError
from services.ingest.report import ImportReport
from services.ingest.service import Ingest, RegistryNotReadyError
from services.ingest.worker import LeadProjection

SHOWN_ISSUES = 20
_REFUSALS = (NotACsvError, UnreadableCsvError, MissingColumnsError, DuplicateColumnError)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ingest import", description=__doc__)
    parser.add_argument("file", type=Path, help="the lead CSV")
    parser.add_argument(
        "--strict", action="store_true", help="import nothing if any row is invalid"
    )
    parser.add_argument("--report", type=Path, help="also write the full JSON report here")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="NATS_URL unset: start a private nats-server over DATA_DIR/nats (only while the "
        "system is not running: two servers must never share a store)",
    )
    arguments = parser.parse_args(argv)
    console = Console(stderr=True)
    environ = read_environment()
    try:
        runtime = load_settings(RuntimeSettings, environ)
        settings = load_settings(IngestSettings, environ)
    except SettingsError as exc:
        console.print(f"error: {exc}")
        return 2
    if runtime.nats_url is None and not arguments.embedded:
        console.print(
            "error: NATS_URL is not set. Point it at the NATS the system uses, or pass "
            "--embedded to use DATA_DIR/nats while the system is stopped."
        )
        return 2
    if not arguments.file.is_file():
        console.print(f"error: {arguments.file} is not a file")
        return 2
    arguments.size = arguments.file.stat().st_size
    configure_logging(service="ingest", level="WARNING")  # the progress bar tells the story
    return asyncio.run(_import(arguments, runtime, Ingest(settings), console))


async def _import(
    arguments: argparse.Namespace, runtime: RuntimeSettings, ingest: Ingest, console: Console
) -> int:
    async with AsyncExitStack() as stack:
        bus = await connect_bus(runtime, stack, "ingest-import")
        projection = LeadProjection(bus, ingest.registry, ingest.ready)
        ingest.projection = projection
        await projection.start()
        stack.push_async_callback(projection.stop)
        stack.push_async_callback(ingest.close)
        try:
            report = await _with_progress(arguments, ingest, bus, console)
        except _REFUSALS as exc:
            console.print(f"[red]refused:[/red] {exc}")
            return 1
        except ImportInterruptedError as exc:
            _print_report(exc.report, console)
            return 1
        except RegistryNotReadyError as exc:
            console.print(f"error: {exc}")
            return 1
    _print_report(report, console)
    if arguments.report is not None:
        arguments.report.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    return 1 if report.refused or not report.complete else 0


async def _with_progress(
    arguments: argparse.Namespace, ingest: Ingest, bus: EventBus, console: Console
) -> ImportReport:
    path: Path = arguments.file
    size: int = arguments.size
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress, path.open("rb") as stream:
        task = progress.add_task(path.name, total=size, rows=0)

        def advance(bytes_read: int, rows: int) -> None:
            progress.update(task, completed=bytes_read, rows=rows)

        report = await ingest.import_csv(
            stream, bus=bus, name=path.name, strict=arguments.strict, progress=advance
        )
        progress.update(task, completed=size)
    return report


def _print_report(report: ImportReport, console: Console) -> None:
    counts = report.counts
    table = Table(title=f"Import of {report.source}", show_header=True)
    for name in ("received", "imported", "updated", "duplicate", "rejected", "warnings"):
        table.add_column(name, justify="right")
    table.add_row(
        *(
            f"{value:,}"
            for value in (
                counts.received,
                counts.imported,
                counts.updated,
                counts.duplicate,
                counts.rejected,
                counts.warnings,
            )
        )
    )
    console.print(table)
    for issue in report.issues[:SHOWN_ISSUES]:
        colour = "red" if issue.severity == "error" else "yellow"
        console.print(f"[{colour}]row {issue.row}[/{colour}] {issue.column}: {issue.message}")
    hidden = len(report.issues) - SHOWN_ISSUES + report.issues_not_shown
    if hidden > 0:
        console.print(f"... and {hidden:,} more (see --report)")
    if report.note:
        console.print(report.note)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

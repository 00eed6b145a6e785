"""`python -m services.analytics`: the analytics service alone, against NATS_URL.

`python -m services.analytics rebuild` replays the whole stream into a new projection
file and swaps it in (see services/analytics/rebuild.py).
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import AsyncExitStack

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from libs.bus import NatsServerError
from libs.runtime.logging import configure_logging
from libs.runtime.main import run_services
from libs.runtime.runner import connect_bus
from libs.runtime.settings import RuntimeSettings, SettingsError, load_settings, read_environment
from services.analytics.config import AnalyticsSettings
from services.analytics.plugin import build_plugin
from services.analytics.rebuild import rebuild, wait_for_adoption
from services.analytics.store import WriterBusyError, take_writer_lock

USAGE = "usage: python -m services.analytics [rebuild]"


def service_is_running(settings: AnalyticsSettings) -> bool:
    try:
        take_writer_lock(settings.duckdb_file).close()
    except WriterBusyError:
        return True
    return False


async def run_rebuild(runtime: RuntimeSettings, settings: AnalyticsSettings) -> int:
    console = Console(stderr=True)
    if runtime.nats_url is None and service_is_running(settings):
        # Its embedded nats-server owns the stream files: a second one must not open them.
        console.print(
            "error: the running service has its own embedded nats-server; set NATS_URL to the "
            "address its log gives ('Embedded nats-server ready at ...') and run this again"
        )
        return 2
    async with AsyncExitStack() as stack:
        bus = await connect_bus(runtime, stack, "analytics-rebuild")
        with Progress(
            TextColumn("Replaying the stream"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("replay", total=None, rate="")

            def progress(done: int, total: int) -> None:
                elapsed = bar.tasks[task].elapsed or 0.0
                rate = f"{done / elapsed:,.0f} events/s" if elapsed else ""
                bar.update(task, completed=done, total=total, rate=rate)

            report = await rebuild(bus, settings.duckdb_file, settings.results_csv_file, progress)
        console.print(
            f"Replayed {report.events:,} events up to seq {report.last_sequence} in "
            f"{report.seconds:.1f}s ({report.events_per_second:,.0f} events/s)"
        )
        if not report.handed_over:
            console.print(f"Swapped in {settings.duckdb_file}")
            return 0
        console.print("An analytics service is running: it swaps the new file in next")
        if await wait_for_adoption(settings.duckdb_file, timeout=60):
            console.print(f"Swapped in {settings.duckdb_file} by the running service")
            return 0
        console.print("The running service has not taken it yet; it will at its next batch")
        return 1


def main(argv: list[str]) -> int:
    if not argv:
        return run_services(lambda environ: [build_plugin(environ)], name="analytics")
    if argv != ["rebuild"]:
        print(USAGE, file=sys.stderr)
        return 2
    environ = read_environment()
    try:
        runtime = load_settings(RuntimeSettings, environ)
        settings = load_settings(AnalyticsSettings, environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(service="analytics-rebuild", level="WARNING")
    try:
        return asyncio.run(run_rebuild(runtime, settings))
    except NatsServerError as exc:
        logger.error("{error}", error=str(exc))
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

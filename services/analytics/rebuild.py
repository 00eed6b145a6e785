"""`python -m services.analytics rebuild`: replay the whole stream into a new file, swap it in.

The new file is built beside the live one. With no analytics writer running it replaces
the live file at once; with one running it is handed over (`<file>.next`) and the writer
swaps it in between two batches, then reads whatever arrived meanwhile. Until then the
running service keeps serving the old file.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from libs.bus.bus import EventBus
from services.analytics.domain import fold
from services.analytics.exports import write_results_csv
from services.analytics.replay import Chunk, read_stream, stream_bounds
from services.analytics.store import (
    WriterBusyError,
    blocking,
    open_database,
    replace_database,
    sibling,
    take_writer_lock,
    write_batch,
)

# Called with (events read so far, events to read in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RebuildReport:
    events: int
    last_sequence: int
    seconds: float
    handed_over: bool  # True: a running writer swaps it in; False: already in place

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def open_fresh(target: Path) -> duckdb.DuckDBPyConnection:
    target.unlink(missing_ok=True)  # a rebuild that was interrupted
    sibling(target, ".wal").unlink(missing_ok=True)
    return open_database(target)


def apply_chunk(connection: duckdb.DuckDBPyConnection, chunk: Chunk) -> None:
    write_batch(connection, fold(chunk.events), chunk.last_sequence)


async def replay_into(
    bus: EventBus, target: Path, progress: Progress, *, batch_size: int = 20_000
) -> tuple[int, int]:
    """Build a projection file from the first event on. Returns (events, last sequence)."""
    first, last = await stream_bounds(bus)
    total = max(last - first + 1, 0)
    connection = await blocking(open_fresh, target)
    chunks: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=4)

    async def read() -> None:
        # Reading overlaps writing: DuckDB works in its thread while the next chunk arrives.
        try:
            async for chunk in read_stream(bus, start=first, until=last, batch_size=batch_size):
                await chunks.put(chunk)
        finally:
            await chunks.put(None)

    reader = asyncio.create_task(read(), name="rebuild-reader")
    events, position = 0, 0
    try:
        while (chunk := await chunks.get()) is not None:
            await blocking(apply_chunk, connection, chunk)
            events += len(chunk.events)
            position = chunk.last_sequence
            progress(position - first + 1, total)
        await reader  # surfaces a reading error
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await blocking(connection.close)  # checkpointed: the file stands alone
    return events, position


def install(rebuilt: Path, path: Path, results_csv: Path) -> bool:
    """Put the rebuilt file in place, or hand it to the running writer. True: handed over."""
    try:
        lock = take_writer_lock(path)
    except WriterBusyError:
        rebuilt.replace(sibling(path, ".next"))
        return True
    try:
        sibling(path, ".next").unlink(missing_ok=True)  # an older rebuild, never adopted
        replace_database(rebuilt, path)
        with duckdb.connect(str(path), read_only=True) as connection:
            write_results_csv(connection, results_csv)
    finally:
        lock.close()
    return False


async def rebuild(
    bus: EventBus, path: Path, results_csv: Path, progress: Progress
) -> RebuildReport:
    started = time.perf_counter()
    rebuilt = sibling(path, ".rebuild")
    events, last = await replay_into(bus, rebuilt, progress)
    seconds = time.perf_counter() - started
    handed_over = await blocking(install, rebuilt, path, results_csv)
    return RebuildReport(events, last, seconds, handed_over)


async def wait_for_adoption(path: Path, timeout: float) -> bool:
    """True once the running writer has taken the handed-over file."""
    pending = sibling(path, ".next")
    deadline = time.monotonic() + timeout
    while pending.exists():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)  # a file on disk has no event to wait on
    return True

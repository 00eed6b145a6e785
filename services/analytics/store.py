"""The DuckDB file: one writer connection, read-only cursors for reports, and the swap.

DuckDB allows one writing process per file, and within it any number of cursors that
read a consistent snapshot (MVCC) while the writer commits: a long report neither waits
for nor holds up the projection. Queries run in threads; DuckDB releases the GIL.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, TypeVar

import duckdb
import msgspec
from loguru import logger

from services.analytics.domain import ProjectionBatch
from services.analytics.schema import (
    CALLS,
    CAMPAIGN_LEADS,
    CAMPAIGNS,
    GET_POSITION,
    GET_SCHEMA,
    LEADS,
    MEETING_BOOKINGS,
    MEETING_CANCELS,
    OPT_OUTS,
    OUTCOMES,
    SCHEMA_DDL,
    SET_POSITION,
    SET_SCHEMA,
    TRANSCRIPTS,
    WITHHELD,
    Table,
    drop_statements,
    schema_digest,
    schema_statements,
)

_encoder = msgspec.json.Encoder()
T = TypeVar("T")


async def blocking(function: Callable[..., T], *args: object) -> T:
    """Run a DuckDB call in a thread; if cancelled, still wait for it to finish.

    A thread cannot be stopped: returning early would let the caller close a connection
    the thread is still using, which DuckDB refuses.
    """
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait((work,))
        raise


class WriterBusyError(RuntimeError):
    """Another process already writes this projection (DuckDB has a single writer)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"another analytics writer holds {path}; stop it or use its file")
        self.path = path


def sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def take_writer_lock(path: Path) -> IO[bytes]:
    """Held for as long as the file is written; a rebuild takes it to swap files in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = sibling(path, ".lock").open("ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise WriterBusyError(path) from None
    return lock


def replace_database(replacement: Path, path: Path) -> None:
    """Put a closed, checkpointed database in place. Caller holds the writer lock."""
    # A WAL left by a crash belongs to the old file: replayed onto the new one it would
    # corrupt it. The old file is closed here, so nothing else writes that WAL.
    sibling(path, ".wal").unlink(missing_ok=True)
    os.replace(replacement, path)


def open_database(path: Path) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path))
    connection.execute(SCHEMA_DDL)
    stored = connection.execute(GET_SCHEMA).fetchone()
    digest = schema_digest()
    if stored is None or stored[0] != digest:
        if stored is not None or has_tables(connection):
            logger.warning(
                "Projection {path} was written with other tables: rebuilding it from the stream",
                path=str(path),
            )
        for statement in drop_statements():
            connection.execute(statement)
    for statement in schema_statements():
        connection.execute(statement)
    connection.execute(SET_SCHEMA, [digest])
    return connection


def has_tables(connection: duckdb.DuckDBPyConnection) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'projection_position'"
    ).fetchone()
    return bool(row and row[0])


def write_batch(
    connection: duckdb.DuckDBPyConnection, batch: ProjectionBatch, last_sequence: int
) -> None:
    """The rows and the stream position, in one transaction: all or nothing."""
    profiles = [row for lead_id, row in batch.profiles.items() if lead_id not in batch.leads]
    writes: list[tuple[Table, list[msgspec.Struct], bool]] = [
        (LEADS, list(batch.leads.values()), False),
        (LEADS, list(profiles), True),
        (CAMPAIGNS, list(batch.campaigns.values()), False),
        (CAMPAIGN_LEADS, list(batch.campaign_leads.values()), False),
        (CALLS, list(batch.calls.values()), False),
        (TRANSCRIPTS, list(batch.transcripts.values()), False),
        (OUTCOMES, list(batch.outcomes.values()), False),
        (OPT_OUTS, list(batch.opt_outs.values()), False),
        (WITHHELD, list(batch.withheld.values()), False),
        (MEETING_BOOKINGS, list(batch.bookings.values()), False),
        (MEETING_CANCELS, list(batch.cancels.values()), False),
    ]
    connection.begin()
    try:
        for table, rows, only_new in writes:
            if rows:
                sql = table.upsert_sql("ignore" if only_new else None)
                connection.execute(sql, [_encoder.encode(rows).decode()])
        connection.execute(SET_POSITION, [last_sequence])
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def read_position(connection: duckdb.DuckDBPyConnection) -> int:
    row = connection.execute(GET_POSITION).fetchone()
    return int(row[0]) if row else 0


class ProjectionStore:
    """The live projection file: applies batches, lends read cursors, swaps in rebuilds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_file: IO[bytes] | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None
        self.last_sequence = 0
        self._readers = 0
        self._swapping = False
        self._idle = asyncio.Condition()

    @property
    def pending_rebuild(self) -> Path:
        return sibling(self.path, ".next")

    def open(self) -> None:
        self._lock_file = take_writer_lock(self.path)
        if self.pending_rebuild.exists():
            replace_database(self.pending_rebuild, self.path)
            logger.info(
                "Adopted the rebuilt projection left at {path}", path=str(self.pending_rebuild)
            )
        self._connection = open_database(self.path)
        self.last_sequence = read_position(self._connection)
        logger.info(
            "Projection {path} at stream seq {sequence}",
            path=str(self.path),
            sequence=self.last_sequence,
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()  # checkpoints: no WAL left behind
            self._connection = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            raise RuntimeError(f"the projection {self.path} is not open")
        return self._connection

    async def write(self, batch: ProjectionBatch, last_sequence: int) -> None:
        await blocking(write_batch, self.connection, batch, last_sequence)
        self.last_sequence = last_sequence

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[duckdb.DuckDBPyConnection]:
        """A cursor on a consistent snapshot; only SELECT and COPY ... TO go through it."""
        async with self._idle:
            await self._idle.wait_for(lambda: not self._swapping)
            self._readers += 1
        cursor = self.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            async with self._idle:
                self._readers -= 1
                self._idle.notify_all()

    async def adopt_rebuild(self) -> bool:
        """Swap in a rebuilt file if one is waiting; reports in progress finish first."""
        if not self.pending_rebuild.exists():
            return False
        async with self._idle:
            self._swapping = True
            await self._idle.wait_for(lambda: self._readers == 0)
        try:
            await blocking(self._swap)
        finally:
            async with self._idle:
                self._swapping = False
                self._idle.notify_all()
        return True

    def _swap(self) -> None:
        previous = self.last_sequence
        self.connection.close()
        self._connection = None
        replace_database(self.pending_rebuild, self.path)
        self._connection = open_database(self.path)
        self.last_sequence = read_position(self._connection)
        logger.info(
            "Swapped in the rebuilt projection at seq {sequence} (was at {previous})",
            sequence=self.last_sequence,
            previous=previous,
        )

"""Validating rows a chunk at a time: in a thread beside the event loop, or in a process.

phonenumbers is pure Python and most of a row's cost. For a big file a second process
validates the next chunks while this one publishes, so the two cores work at once; a
small upload is validated in a thread, where a round trip to another process costs more
than it saves. Either way rows are read and checked off the event loop, which keeps
answering other requests and acknowledging publishes meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor

import msgspec

from services.ingest.columns import ColumnMap
from services.ingest.csv_source import CsvRow, CsvSource, UnreadableCsvError
from services.ingest.domain import RowIssue, ValidLead, validate_row

CHUNKS_AHEAD = 2  # chunks being validated while one is published: bounds memory


class Chunk(msgspec.Struct, kw_only=True):
    received: int = 0
    valid: list[ValidLead] = msgspec.field(default_factory=list)
    rejected: int = 0
    issues: list[RowIssue] = msgspec.field(default_factory=list)
    warned: int = 0
    last_row: int = 0
    error: str = ""


_chunk_decoder = msgspec.msgpack.Decoder(Chunk)
_chunk_encoder = msgspec.msgpack.Encoder()


def validate_rows(rows: list[CsvRow], columns: ColumnMap, region: str, error: str = "") -> Chunk:
    chunk = Chunk(error=error)
    for row in rows:
        chunk.received += 1
        chunk.last_row = row.number
        valid, issues = validate_row(row.number, row.cells, columns, region)
        if valid is None:
            chunk.rejected += 1
        else:
            chunk.valid.append(valid)
            chunk.warned += bool(issues)
        chunk.issues.extend(issues)
    return chunk


def validate_rows_encoded(
    rows: list[tuple[int, list[str]]], columns: ColumnMap, region: str, error: str
) -> bytes:
    """In the validation process: msgpack back, far cheaper to carry than pickled structs."""
    chunk = validate_rows([CsvRow(number, cells) for number, cells in rows], columns, region, error)
    return _chunk_encoder.encode(chunk)


def _read(rows: Iterator[CsvRow], size: int) -> tuple[list[CsvRow], str]:
    batch: list[CsvRow] = []
    try:
        batch.extend(itertools.islice(rows, size))
    except UnreadableCsvError as exc:
        return batch, str(exc)
    return batch, ""


def _read_and_validate(
    rows: Iterator[CsvRow], columns: ColumnMap, region: str, size: int
) -> tuple[Chunk | None, bool]:
    """The next chunk (None when the file had no more rows), and whether more may follow."""
    batch, error = _read(rows, size)
    chunk = validate_rows(batch, columns, region, error) if batch or error else None
    return chunk, not error and len(batch) == size


async def validated_chunks(
    source: CsvSource, region: str, size: int, pool: Executor | None
) -> AsyncIterator[Chunk]:
    """Every row of the file, validated, in order, a chunk at a time."""
    rows = source.rows()  # used by one thread at a time: each chunk waits for the last
    if pool is None:
        more = True
        while more:
            chunk, more = await asyncio.to_thread(
                _read_and_validate, rows, source.columns, region, size
            )
            if chunk is not None:
                yield chunk
        return
    loop = asyncio.get_running_loop()
    ahead: deque[asyncio.Future[bytes]] = deque()
    finished = False
    while True:
        while not finished and len(ahead) < CHUNKS_AHEAD:
            batch, error = await asyncio.to_thread(_read, rows, size)
            finished = bool(error) or len(batch) < size
            if batch or error:
                payload = [(row.number, row.cells) for row in batch]
                ahead.append(
                    loop.run_in_executor(
                        pool, validate_rows_encoded, payload, source.columns, region, error
                    )
                )
        if not ahead:
            return
        yield _chunk_decoder.decode(await ahead.popleft())

"""The results as files: the CSV kept at RESULTS_CSV_PATH, and downloads (CSV or Parquet)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from uuid import UUID

import duckdb

from services.analytics.domain import RESULT_COLUMNS
from services.analytics.filters import Period
from services.analytics.formulas import neutralise_cell
from services.analytics.reports import result_relation, result_rows
from services.analytics.store import ProjectionStore, blocking

CHUNK_ROWS = 2000


def csv_text(rows: Iterable[Sequence[object]], *, header: bool = False) -> str:
    """CSV lines with every text cell made safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(RESULT_COLUMNS)
    writer.writerows(
        [neutralise_cell(cell) if isinstance(cell, str) else cell for cell in row] for row in rows
    )
    return buffer.getvalue()


def write_results_csv(cursor: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Rewrite the whole results file atomically: readers see the old or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = result_rows(cursor, None, Period())
    count = 0
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, newline=""
    ) as target:
        target.write(csv_text((), header=True))
        while chunk := rows.fetchmany(CHUNK_ROWS):
            target.write(csv_text(chunk))
            count += len(chunk)
    os.replace(target.name, path)
    return count


async def stream_csv(
    store: ProjectionStore, campaign_id: UUID | None, period: Period
) -> AsyncIterator[bytes]:
    """The results as CSV, a chunk of rows at a time, from one consistent snapshot."""
    async with store.reader() as cursor:
        rows = await blocking(result_rows, cursor, campaign_id, period)
        yield csv_text((), header=True).encode()
        while chunk := await blocking(rows.fetchmany, CHUNK_ROWS):
            yield csv_text(chunk).encode()


async def stream_parquet(
    store: ProjectionStore, campaign_id: UUID | None, period: Period
) -> AsyncIterator[bytes]:
    """Parquet needs its footer before it can be read: write a temporary file, then send it."""
    with tempfile.TemporaryDirectory(prefix="results-") as directory:
        path = Path(directory) / "results.parquet"
        async with store.reader() as cursor:
            relation = await blocking(result_relation, cursor, campaign_id, period)
            await blocking(relation.write_parquet, str(path))
        with path.open("rb") as source:
            while chunk := await blocking(source.read, 1 << 20):
                yield chunk

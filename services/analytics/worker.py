"""The projection: every event on the stream into DuckDB, in order, exactly once.

The database, not the consumer, knows where the projection stands: each batch commits
its rows together with the stream sequence of its last event. A batch already applied
(redelivered, or committed just before a crash and never acked) is skipped; a batch that
does not follow on (events nakked and overtaken, a fresh file, a rebuild swapped in
behind the consumer) makes the projection read the missing stretch from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import duckdb
from loguru import logger
from nats.js.errors import NotFoundError

from libs.bus.bus import EventBus
from libs.bus.consumer import Delivery
from libs.events.model import AnyEvent
from services.analytics.domain import continues, fold
from services.analytics.exports import write_results_csv
from services.analytics.replay import read_stream, stream_bounds
from services.analytics.store import ProjectionStore, blocking


class Projector:
    """Applies batches of events to the store, in stream order, each event once."""

    def __init__(self, store: ProjectionStore, bus: EventBus, *, replay_batch: int = 2000) -> None:
        self.store = store
        self.bus = bus
        self.replay_batch = replay_batch
        self.changed = asyncio.Event()  # set after every commit, for the results file
        self._lock = asyncio.Lock()
        self._advanced = asyncio.Condition()

    async def wait_for(self, sequence: int, timeout: float = 10.0) -> None:
        """Until the projection has applied the stream up to `sequence`."""
        async with asyncio.timeout(timeout), self._advanced:
            await self._advanced.wait_for(lambda: self.store.last_sequence >= sequence)

    async def _advance(self) -> None:
        self.changed.set()
        async with self._advanced:
            self._advanced.notify_all()

    async def apply(self, batch: list[tuple[AnyEvent, Delivery]]) -> None:
        async with self._lock:
            await self._adopt_rebuild()
            last = self.store.last_sequence
            fresh = sorted(
                (
                    (delivery.stream_sequence, event)
                    for event, delivery in batch
                    if delivery.stream_sequence > last
                ),
                key=lambda item: item[0],
            )
            if not fresh:  # applied before: a redelivery, or a commit whose ack was lost
                logger.debug(
                    "Skipped {count} events already applied (projection at seq {last})",
                    count=len(batch),
                    last=last,
                )
                return
            sequences = [sequence for sequence, _ in fresh]
            if continues(last, sequences):
                await self.store.write(fold(event for _, event in fresh), sequences[-1])
            else:
                logger.info(
                    "Projection at seq {last} was handed seq {first}: reading seq {start}-{end} "
                    "from the stream",
                    last=last,
                    first=sequences[0],
                    start=last + 1,
                    end=sequences[-1],
                )
                await self._catch_up(until=sequences[-1])
            await self._advance()

    async def adopt_rebuild(self) -> None:
        """Between batches: swap in a rebuilt file, then bring it up to where we were."""
        async with self._lock:
            await self._adopt_rebuild()

    async def _adopt_rebuild(self) -> None:
        reached = self.store.last_sequence
        if await self.store.adopt_rebuild():
            if self.store.last_sequence < reached:
                await self._catch_up(until=reached)
            await self._advance()

    async def catch_up(self, *, until: int | None) -> None:
        """Read what the projection misses up to `until` (None: the end of the stream)."""
        async with self._lock:
            await self._catch_up(until=until)
            await self._advance()

    async def _catch_up(self, *, until: int | None) -> None:
        async for chunk in read_stream(
            self.bus, start=self.store.last_sequence + 1, until=until, batch_size=self.replay_batch
        ):
            await self.store.write(fold(chunk.events), chunk.last_sequence)


async def keep_results_file(projector: Projector, path: Path, interval: float) -> None:
    """Rewrite the results CSV after changes, at most once per `interval` seconds."""
    while True:
        try:
            await asyncio.wait_for(projector.changed.wait(), timeout=interval)
        except TimeoutError:
            await projector.adopt_rebuild()  # a rebuild may be waiting while nothing happens
            continue
        projector.changed.clear()
        started = time.monotonic()
        try:
            await write_results(projector.store, path)
        except (OSError, duckdb.Error):  # a full disk must not stop the projection
            logger.exception("Could not write the results file {path}", path=str(path))
            projector.changed.set()  # try again at the next round
        # Pace: a burst of batches writes the file once, and a big file that takes long to
        # write is rewritten less often, so that it never costs more than a fifth of a core.
        await asyncio.sleep(max(interval, 4 * (time.monotonic() - started)))


async def write_results(store: ProjectionStore, path: Path) -> None:
    async with store.reader() as cursor:
        rows = await blocking(write_results_csv, cursor, path)
    logger.debug("Results file {path}: {rows} leads", path=str(path), rows=rows)


async def reconcile(projector: Projector, bus: EventBus, durable: str) -> None:
    """At start: fill what the consumer has acked but this file lacks (a new or swapped file)."""
    acked = 0
    with contextlib.suppress(NotFoundError):
        acked = (await bus.js.consumer_info(bus.stream, durable)).ack_floor.stream_seq
    _, last = await stream_bounds(bus)
    position = projector.store.last_sequence
    if position > last:
        logger.warning(
            "Projection is at seq {position} but the stream ends at {last}: the stream was "
            "recreated; run `python -m services.analytics rebuild`",
            position=position,
            last=last,
        )
    elif acked > position:
        await projector.catch_up(until=acked)

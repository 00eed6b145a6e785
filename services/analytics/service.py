"""The analytics service: its projection store, the consumer that fills it, and the
results file kept beside it, for one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from loguru import logger

from libs.bus.bus import EventBus
from libs.bus.consumer import ConsumerSettings, DurableBatchConsumer
from libs.runtime.supervision import stop_tasks, supervise
from services.analytics.config import AnalyticsSettings
from services.analytics.store import ProjectionStore, blocking
from services.analytics.worker import Projector, keep_results_file, reconcile, write_results

# How long a read waits for the projection to reach events it has just read on the stream.
CATCH_UP_SECONDS = 5.0


class Analytics:
    """The store, the projection consumer and the results file, for one process."""

    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.store = ProjectionStore(settings.duckdb_file)
        self.projector: Projector | None = None  # while running

    async def caught_up_to(self, sequence: int, timeout: float = CATCH_UP_SECONDS) -> bool:
        """Wait until the projection has applied the stream up to `sequence`, so that what a
        reader takes from the tables agrees with what it has read on the stream."""
        if self.projector is None:
            return self.store.last_sequence >= sequence
        try:
            await self.projector.wait_for(sequence, timeout=timeout)
        except TimeoutError:
            logger.warning(
                "Projection at seq {at} has not reached seq {sequence} in {timeout}s",
                at=self.store.last_sequence,
                sequence=sequence,
                timeout=timeout,
            )
            return False
        return True

    @asynccontextmanager
    async def running(self, bus: EventBus) -> AsyncIterator[Projector]:
        settings = self.settings
        await blocking(self.store.open)
        projector = Projector(self.store, bus, replay_batch=settings.analytics_replay_batch)
        consumer = DurableBatchConsumer(
            bus,
            ConsumerSettings(
                durable=settings.analytics_durable,
                batch_size=settings.analytics_batch_size,
                idle_wait=settings.analytics_idle_wait,
                ack_wait=settings.analytics_ack_wait,
            ),
            projector.apply,
        )
        results = supervise(
            "analytics-results-file",
            lambda: keep_results_file(
                projector, settings.results_csv_file, settings.results_csv_interval_seconds
            ),
        )
        projector.changed.set()  # the file reflects the projection from the start
        try:
            await reconcile(projector, bus, settings.analytics_durable)
            async with consumer.running():
                self.projector = projector
                yield projector
        finally:
            self.projector = None
            await stop_tasks(results)
            if projector.changed.is_set():  # the last batches, not yet in the file
                await write_results(projector.store, settings.results_csv_file)
            await blocking(self.store.close)

"""Fixtures every test layer shares: a private nats-server per test process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from loguru import logger
from nats.js.errors import NotFoundError

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import STREAM_NAME


@pytest.fixture(scope="session")
async def nats_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedNatsServer]:
    """One real nats-server per test process (and so per xdist worker), on a free port."""
    async with EmbeddedNatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture
async def bus(nats_server: EmbeddedNatsServer) -> AsyncIterator[EventBus]:
    """A connected bus over a fresh, empty SALES stream."""
    bus = await EventBus.connect(nats_server.url, name="test")
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_stream(STREAM_NAME)
    await bus.ensure_stream()
    yield bus
    await bus.close()


class LogWatch:
    """Collects log records, and lets a test wait for one instead of sleeping."""

    def __init__(self) -> None:
        self.records: list[dict[str, object]] = []
        self._changed = asyncio.Event()

    def sink(self, message: object) -> None:
        self.records.append(message.record)  # type: ignore[attr-defined]
        self._changed.set()

    async def wait_for(
        self, predicate: Callable[[dict[str, object]], bool], timeout: float = 10.0
    ) -> dict[str, object]:
        async with asyncio.timeout(timeout):
            while True:
                for record in self.records:
                    if predicate(record):
                        return record
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def log_watch() -> AsyncIterator[LogWatch]:
    watch = LogWatch()
    sink_id = logger.add(watch.sink, level="DEBUG")
    yield watch
    logger.remove(sink_id)

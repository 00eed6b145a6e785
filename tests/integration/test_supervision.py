"""Worker tasks run supervised: restarted when they fail, named by /readyz while they are
down, and the process stops with EXIT_WORKER_FAILED when one keeps failing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from libs.bus import DurableConsumer, EmbeddedNatsServer, EventBus
from libs.runtime.app import build_app
from libs.runtime.plugin import ServicePlugin
from libs.runtime.supervision import EXIT_WORKER_FAILED, Supervisor
from services.scheduler.plugin import build_plugin as build_scheduler
from tests.e2e.support import ROOT, start
from tests.factories import lead_imported
from tests.integration.test_consumer import Recorder, quick
from tests.support import serving


def quick_supervisor() -> Supervisor:
    # Restarts at once and for ever: a test decides when the worker may work again.
    return Supervisor(max_restarts=10_000, first_backoff=0.05, max_backoff=0.2)


def consumer_plugin(consumer: DurableConsumer) -> ServicePlugin:
    @asynccontextmanager
    async def workers(_: EventBus) -> AsyncIterator[None]:
        async with consumer.running():
            yield

    return ServicePlugin(name="test", workers=workers)


def failed(name: str):
    return lambda record: f"Worker {name} failed" in str(record["message"])


def running_again(name: str):
    return lambda record: f"Worker {name} is running again" in str(record["message"])


async def test_a_consumer_that_cannot_subscribe_is_down_on_readyz_until_it_runs_again(
    bus: EventBus, log_watch
):
    handler = Recorder()
    consumer = DurableConsumer(bus, quick("supervised"), handler)
    app = build_app(
        [consumer_plugin(consumer)],
        bus=bus,
        api_token=None,
        title="test",
        supervisor=quick_supervisor(),
    )
    first = lead_imported(lead_id=uuid4())
    await bus.publish(first)
    async with serving(app) as client:
        await handler.wait_until(lambda: handler.handled)
        assert (await client.get("/readyz")).status_code == 200

        # The stream goes away under it: its fetch fails, and so does every re-subscription.
        await bus.js.delete_stream(bus.stream)
        await log_watch.wait_for(failed("consumer-supervised"))
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert "worker consumer-supervised is down" in down.json()["detail"]

        await bus.ensure_stream()
        await log_watch.wait_for(running_again("consumer-supervised"), timeout=30)
        second = lead_imported(lead_id=uuid4())
        await bus.publish(second)
        await handler.wait_until(lambda: second in handler.handled)
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
    assert handler.handled == [first, second]


async def test_a_consumer_whose_durable_is_deleted_is_restarted_and_keeps_consuming(
    bus: EventBus, log_watch
):
    handler = Recorder()
    first, second = lead_imported(lead_id=uuid4()), lead_imported(lead_id=uuid4())
    await bus.publish(first)
    async with DurableConsumer(bus, quick("deleted"), handler).running():
        await handler.wait_until(lambda: handler.handled)
        await bus.js.delete_consumer(bus.stream, "deleted")
        await log_watch.wait_for(failed("consumer-deleted"))
        await bus.publish(second)
        await handler.wait_until(lambda: second in handler.handled)
    # Its position went with the durable: it starts over, at least once as ever.
    assert handler.handled[0] == first
    assert handler.handled[-1] == second
    assert all(event in (first, second) for event in handler.handled)


@pytest.fixture
async def own_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNatsServer]:
    """A server of the test's own, to stop and start again on the same port and store."""
    server = EmbeddedNatsServer(tmp_path / "nats")
    await server.start()
    yield server
    await server.stop()


async def test_a_consumer_continues_from_its_durable_position_after_nats_restarts(
    own_nats: EmbeddedNatsServer, log_watch
):
    bus = await EventBus.connect(own_nats.url, name="test")
    try:
        await bus.ensure_stream()
        handler = Recorder()
        first, second = lead_imported(lead_id=uuid4()), lead_imported(lead_id=uuid4())
        await bus.publish(first)
        async with DurableConsumer(bus, quick("restarted"), handler).running():
            await handler.wait_until(lambda: handler.handled)
            await own_nats.stop()
            await log_watch.wait_for(lambda r: "Disconnected from NATS" in str(r["message"]))
            await own_nats.start()
            await log_watch.wait_for(lambda r: "Reconnected to NATS" in str(r["message"]))
            await bus.publish(second)
            await handler.wait_until(lambda: second in handler.handled, timeout=30)
        assert handler.handled == [first, second]  # nothing handled twice
    finally:
        await bus.close()


class BrokenClock:
    """The scheduler's clock, failing while `broken`: the dispatcher's first call fails."""

    def __init__(self) -> None:
        self.broken = True

    def __call__(self) -> datetime:
        if self.broken:
            raise RuntimeError("the clock is broken")
        return datetime.now(UTC)


async def test_a_failing_dispatcher_shows_on_readyz_until_it_dispatches_again(
    bus: EventBus, log_watch
):
    clock = BrokenClock()
    plugin = build_scheduler({"CALLS_PER_SECOND": "200"}, clock=clock)
    app = build_app(
        [plugin], bus=bus, api_token=None, title="scheduler", supervisor=quick_supervisor()
    )
    async with serving(app) as client:
        await log_watch.wait_for(failed("scheduler-dispatcher"))
        down = await client.get("/readyz")
        assert down.status_code == 503
        detail = down.json()["detail"]
        assert "worker scheduler-dispatcher is down (RuntimeError: the clock is broken)" in detail

        clock.broken = False
        await log_watch.wait_for(running_again("scheduler-dispatcher"))
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text


async def test_a_worker_that_keeps_failing_stops_the_process_with_its_own_exit_code(
    tmp_path: Path,
):
    # A broken setup: where the drop folder should be, a file. Its watcher fails each time.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "inbox").write_text("not a folder")
    log = tmp_path / "ingest.log"
    process = await start(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "services.ingest"],
        {
            "DATA_DIR": str(data_dir),
            "PORT": "0",
            "LEADS_CSV_PATH": str(tmp_path / "none.csv"),
            "WORKER_MAX_RESTARTS": "2",
            "WORKER_RESTART_SECONDS": "0.05",
        },
        log,
    )
    async with asyncio.timeout(120):
        code = await process.wait()
    output = log.read_text()
    assert code == EXIT_WORKER_FAILED, output
    assert "Giving up: worker ingest-drop-folder failed 3 times in a row" in output
    assert "FileExistsError" in output
    # Uvicorn stopped, then NATS, in that order.
    assert output.index("Giving up") < output.index("Embedded nats-server stopped")

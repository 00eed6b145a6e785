"""Analytics projection throughput beside raw consumption of the same stream, in one run.

Publishes a realistic mix (leads, campaigns, calls that fail, ring out to voicemail or
become conversations with transcripts and outcomes, opt-outs), then measures on that
one stream, in events/s:

- raw consume: bare nats-py, a durable pull consumer, fetch 256 and ack each (the same
  baseline as benchmarks/bus.py); an ephemeral no-ack consumer read with `fetch`; and the
  rebuild's own reader (pull requests by hand) with nothing done to the messages;
- incremental: the analytics service's projection (batch consumer, DuckDB, results CSV
  rewritten every second) from the first event to the last;
- incremental while reporting: the same, with a client asking for statistics in a loop
  through the read-only path; also the median statistics latency meanwhile;
- rebuild: `rebuild` from the first event into a new file, then the swap.

    .venv/bin/python benchmarks/analytics.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from loguru import logger
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bus import raw_consume
from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import STREAM_NAME
from services.analytics.config import AnalyticsSettings
from services.analytics.filters import Period
from services.analytics.rebuild import rebuild
from services.analytics.replay import Puller
from services.analytics.reports import statistics as report_statistics
from services.analytics.service import Analytics
from services.analytics.store import blocking
from tests.integration.analytics.histories import realistic_events


async def publish(bus: EventBus, count: int) -> int:
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_stream(STREAM_NAME)
    await bus.ensure_stream()
    events = realistic_events(count)
    for start in range(0, len(events), 10_000):
        await bus.publish_many(events[start : start + 10_000])
    return (await bus.js.stream_info(STREAM_NAME)).state.last_seq


async def raw_acked(bus: EventBus, count: int) -> float:
    """Bare nats-py: durable pull consumer, fetch 256, ack each (as benchmarks/bus.py)."""
    return await raw_consume(bus, count)


async def raw_unacked(bus: EventBus, count: int, batch: int = 5000) -> float:
    info = await bus.js.add_consumer(
        STREAM_NAME,
        ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, mem_storage=True
        ),
    )
    subscription = await bus.js.pull_subscribe_bind(consumer=info.name, stream=STREAM_NAME)
    started = time.perf_counter()
    received = 0
    while received < count:
        received += len(await subscription.fetch(batch, timeout=1))
    elapsed = time.perf_counter() - started
    await subscription.unsubscribe()
    await bus.js.delete_consumer(STREAM_NAME, info.name)
    return count / elapsed


async def raw_rebuild_reader(bus: EventBus, count: int, batch: int = 5000) -> float:
    """The rebuild's own reader (pull requests by hand), without decoding or writing."""
    info = await bus.js.add_consumer(
        STREAM_NAME,
        ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, mem_storage=True
        ),
    )
    puller = Puller(bus, info.name, batch, timeout=2.0)
    await puller.start()
    started = time.perf_counter()
    received = 0
    while received < count:
        received += len(await puller.next_batch())
    elapsed = time.perf_counter() - started
    await puller.stop()
    await bus.js.delete_consumer(STREAM_NAME, info.name)
    return count / elapsed


async def incremental(
    bus: EventBus, directory: Path, last: int, *, reporting: bool
) -> tuple[float, float | None]:
    """Events/s of the live projection, and the median statistics latency while it runs."""
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_consumer(STREAM_NAME, "analytics")
    settings = AnalyticsSettings(data_dir=str(directory / uuid4().hex))
    workers = Analytics(settings)
    latencies: list[float] = []

    async def report_in_a_loop() -> None:
        while True:
            started = time.perf_counter()
            async with workers.store.reader() as cursor:
                await blocking(report_statistics, cursor, None, Period())
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with workers.running(bus) as projector:
        reader = asyncio.create_task(report_in_a_loop()) if reporting else None
        await projector.wait_for(last, timeout=3600)
        elapsed = time.perf_counter() - started
        if reader:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return last / elapsed, statistics.median(latencies) if latencies else None


async def full_rebuild(bus: EventBus, directory: Path) -> float:
    path = directory / uuid4().hex / "analytics.duckdb"
    path.parent.mkdir()
    report = await rebuild(bus, path, path.parent / "results.csv", lambda done, total: None)
    return report.events_per_second


async def main(count: int, rounds: int) -> None:
    logger.remove()
    figures: dict[str, list[float]] = {
        k: []
        for k in ("raw_acked", "raw_unacked", "raw_puller", "incremental", "reporting", "rebuild")
    }
    report_latency: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        async with EmbeddedNatsServer(directory / "nats") as server:
            bus = await EventBus.connect(server.url, name="bench")
            last = await publish(bus, count)
            for round_number in range(rounds):
                # Alternate the order, so drift on a shared machine hits every path alike.
                steps = [
                    "raw_acked",
                    "raw_unacked",
                    "raw_puller",
                    "incremental",
                    "reporting",
                    "rebuild",
                ]
                for step in steps if round_number % 2 == 0 else reversed(steps):
                    if step == "raw_acked":
                        figures[step].append(await raw_acked(bus, last))
                    elif step == "raw_unacked":
                        figures[step].append(await raw_unacked(bus, last))
                    elif step == "raw_puller":
                        figures[step].append(await raw_rebuild_reader(bus, last))
                    elif step == "rebuild":
                        figures[step].append(await full_rebuild(bus, directory))
                    else:
                        rate, latency = await incremental(
                            bus, directory, last, reporting=step == "reporting"
                        )
                        figures[step].append(rate)
                        if latency is not None:
                            report_latency.append(latency)
                    print(
                        f"round {round_number + 1}: {step} {figures[step][-1]:,.0f} events/s",
                        file=sys.stderr,
                        flush=True,
                    )
            await bus.close()

    median = {k: statistics.median(v) for k, v in figures.items()}
    baseline = median["raw_acked"]
    print(f"{last:,} events of a realistic mix, median of {rounds} rounds")
    print(f"{'path':<48}{'events/s':>10}{'vs raw':>8}")
    rows = (
        ("raw consume (durable pull, fetch 256, ack)", "raw_acked"),
        ("raw consume (ephemeral pull, no acks)", "raw_unacked"),
        ("raw consume (the rebuild's reader, no decode)", "raw_puller"),
        ("incremental projection", "incremental"),
        ("incremental, statistics asked in a loop", "reporting"),
        ("full rebuild (replay into a new file)", "rebuild"),
    )
    for label, key in rows:
        print(f"{label:<48}{median[key]:>10,.0f}{median[key] / baseline:>8.0%}")
    print(f"statistics latency while projecting: median {statistics.median(report_latency):.2f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.rounds))

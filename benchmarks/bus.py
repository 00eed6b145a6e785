"""Bus throughput beside bare nats-py, on one embedded nats-server, in one run.

Publish: EventBus.publish_many (typed encoding, Nats-Msg-Id header, every ack checked)
against bare `js.publish_async` of same-sized payloads without headers. Consume:
DurableConsumer (metadata, decode, handler, ack) against a bare pull `fetch` with acks,
each with its own durable consumer over the same stored events.

    .venv/bin/python benchmarks/bus.py [--events 50000]
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
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from libs.bus import ConsumerSettings, DurableConsumer, EmbeddedNatsServer, EventBus
from libs.events import STREAM_NAME, encode_event
from tests.factories import lead_imported


async def fresh_stream(bus: EventBus) -> None:
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_stream(STREAM_NAME)
    await bus.ensure_stream()


async def bus_publish(bus: EventBus, count: int) -> float:
    events = [lead_imported(lead_id=uuid4()) for _ in range(count)]
    started = time.perf_counter()
    await bus.publish_many(events)
    return count / (time.perf_counter() - started)


async def raw_publish(bus: EventBus, count: int, payload: bytes) -> float:
    subjects = [f"sales.lead.{uuid4()}.imported" for _ in range(count)]
    started = time.perf_counter()
    futures = [await bus.js.publish_async(subject, payload) for subject in subjects]
    await asyncio.gather(*futures)
    return count / (time.perf_counter() - started)


async def bus_consume(bus: EventBus, count: int) -> float:
    done = asyncio.Event()
    handled = 0

    async def handler(event: object, delivery: object) -> None:
        nonlocal handled
        handled += 1
        if handled == count:
            done.set()

    consumer = DurableConsumer(bus, ConsumerSettings(durable=f"bench-{uuid4().hex[:8]}"), handler)
    started = time.perf_counter()
    async with consumer.running():
        await done.wait()
    return count / (time.perf_counter() - started)


async def raw_consume(bus: EventBus, count: int, batch: int = 256) -> float:
    durable = f"raw-{uuid4().hex[:8]}"
    await bus.js.add_consumer(
        STREAM_NAME,
        ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=batch * 4
        ),
    )
    subscription = await bus.js.pull_subscribe_bind(durable=durable, stream=STREAM_NAME)
    started = time.perf_counter()
    received = 0
    while received < count:
        for message in await subscription.fetch(batch, timeout=1):
            await message.ack()
            received += 1
    await bus.nc.flush()
    elapsed = time.perf_counter() - started
    await subscription.unsubscribe()
    return count / elapsed


async def main(count: int, rounds: int) -> None:
    logger.remove()
    payload = encode_event(lead_imported())
    results: dict[str, list[float]] = {k: [] for k in ("bus_pub", "raw_pub", "bus_sub", "raw_sub")}
    with tempfile.TemporaryDirectory() as store:
        async with EmbeddedNatsServer(Path(store)) as server:
            bus = await EventBus.connect(server.url, name="bench")
            for round_number in range(rounds):
                # Alternate the order, so drift on a shared machine hits both paths alike.
                await fresh_stream(bus)
                results["raw_pub"].append(await raw_publish(bus, count, payload))
                await fresh_stream(bus)
                results["bus_pub"].append(await bus_publish(bus, count))
                # Both consumers read the stream the bus just wrote: the same messages,
                # Nats-Msg-Id headers included, so the ratio is the consumer's own cost.
                if round_number % 2:
                    results["raw_sub"].append(await raw_consume(bus, count))
                    results["bus_sub"].append(await bus_consume(bus, count))
                else:
                    results["bus_sub"].append(await bus_consume(bus, count))
                    results["raw_sub"].append(await raw_consume(bus, count))
            await bus.close()

    median = {k: statistics.median(v) for k, v in results.items()}
    print(f"{count:,} LeadImported events of {len(payload)} bytes, median of {rounds} rounds")
    print(f"{'path':<10}{'bus (events/s)':>16}{'raw nats-py':>14}{'ratio':>8}")
    for path, bus_key, raw_key in (
        ("publish", "bus_pub", "raw_pub"),
        ("consume", "bus_sub", "raw_sub"),
    ):
        ratio = median[bus_key] / median[raw_key]
        print(f"{path:<10}{median[bus_key]:>16,.0f}{median[raw_key]:>14,.0f}{ratio:>8.0%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.rounds))

"""The durable consumer's batch mode: whole fetched batches, acked together."""

import asyncio
from uuid import uuid4

from libs.bus import ConsumerSettings, Delivery, EventBus
from libs.bus.consumer import DurableBatchConsumer
from tests.factories import lead_imported


class BatchRecorder:
    """A batch handler that records each batch, fails when told, and signals progress."""

    def __init__(self, fail_batches: int = 0, poison: object = None) -> None:
        self.batches: list[list[tuple[object, Delivery]]] = []
        self.handled: list[object] = []
        self.fail_batches, self.poison = fail_batches, poison
        self._progress = asyncio.Event()

    async def __call__(self, batch: list[tuple[object, Delivery]]) -> None:
        self.batches.append(batch)
        self._progress.set()
        if len(self.batches) <= self.fail_batches:
            raise ConnectionError("database is down")
        if any(event == self.poison for event, _ in batch):
            raise ValueError("cannot apply this event")
        self.handled.extend(event for event, _ in batch)

    async def wait_until(self, condition, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._progress.clear()
                await self._progress.wait()


def quick(durable: str, **overrides) -> ConsumerSettings:
    return ConsumerSettings(durable=durable, retry_delays=(0.05,), idle_wait=0.2, **overrides)


async def test_batches_arrive_in_stream_order_and_are_acked_together(bus: EventBus):
    events = [lead_imported(lead_id=uuid4()) for _ in range(500)]
    await bus.publish_many(events)
    handler = BatchRecorder()
    async with DurableBatchConsumer(bus, quick("batches", batch_size=100), handler).running():
        await handler.wait_until(lambda: len(handler.handled) >= 500)
    assert handler.handled == events
    assert max(len(batch) for batch in handler.batches) == 100  # whole fetches, not one by one
    sequences = [delivery.stream_sequence for batch in handler.batches for _, delivery in batch]
    assert sequences == list(range(1, 501))
    info = await bus.js.consumer_info(bus.stream, "batches")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_a_failed_batch_is_redelivered_and_then_acked(bus: EventBus):
    events = [lead_imported(lead_id=uuid4()) for _ in range(3)]
    await bus.publish_many(events)
    handler = BatchRecorder(fail_batches=1)
    # The first fetch when idle takes one event; make it fail, then all three come back.
    async with DurableBatchConsumer(bus, quick("redeliver"), handler).running():
        await handler.wait_until(lambda: len(handler.handled) >= 3)
    assert sorted(map(str, handler.handled)) == sorted(map(str, events))
    first_event, first_delivery = handler.batches[0][0]
    redelivered = [d for batch in handler.batches[1:] for e, d in batch if e == first_event]
    assert (first_delivery.delivery_count, redelivered[0].delivery_count) == (1, 2)
    info = await bus.js.consumer_info(bus.stream, "redeliver")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_a_poison_event_is_dead_lettered_alone(bus: EventBus, log_watch):
    events = [lead_imported(lead_id=uuid4()) for _ in range(5)]
    poison = events[2]
    stored = await bus.publish_many(events)
    handler = BatchRecorder(poison=poison)
    settings = quick("poison-batch", max_deliveries=2, batch_size=10)
    async with DurableBatchConsumer(bus, settings, handler).running():
        dead = await log_watch.wait_for(lambda r: "Dead letter" in r["message"])
        await handler.wait_until(lambda: len(handler.handled) >= 4)
    assert dead["message"] == (
        f"Dead letter on {poison.subject} seq {stored[2].seq} after 2 deliveries: "
        "cannot apply this event"
    )
    assert sorted(map(str, handler.handled)) == sorted(map(str, events[:2] + events[3:]))
    info = await bus.js.consumer_info(bus.stream, "poison-batch")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_a_malformed_message_is_dead_lettered_and_the_rest_handled(bus: EventBus, log_watch):
    good = lead_imported(lead_id=uuid4())
    await bus.js.publish("sales.lead.garbage.imported", b"not json at all")
    await bus.publish(good)
    handler = BatchRecorder()
    async with DurableBatchConsumer(bus, quick("malformed-batch"), handler).running():
        await log_watch.wait_for(lambda r: "Dead letter" in r["message"])
        await handler.wait_until(lambda: handler.handled)
    assert handler.handled == [good]

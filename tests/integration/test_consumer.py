import asyncio
from uuid import uuid4

from libs.bus import ConsumerSettings, Delivery, DurableConsumer, EventBus
from tests.factories import lead_imported


class Recorder:
    """A handler that records what it saw, fails when told, and signals progress."""

    def __init__(self, fail_first: int = 0, fail_always: bool = False) -> None:
        self.seen: list[tuple[object, Delivery]] = []
        self.handled: list[object] = []
        self.fail_first, self.fail_always = fail_first, fail_always
        self._progress = asyncio.Event()

    async def __call__(self, event, delivery: Delivery) -> None:
        self.seen.append((event, delivery))
        self._progress.set()
        if self.fail_always or len(self.seen) <= self.fail_first:
            raise ConnectionError("CRM is down")
        self.handled.append(event)

    async def wait_until(self, condition, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._progress.clear()
                await self._progress.wait()


def quick(durable: str, **overrides) -> ConsumerSettings:
    return ConsumerSettings(durable=durable, retry_delays=(0.05,), idle_wait=0.2, **overrides)


async def test_a_failed_handler_is_redelivered_and_then_succeeds(bus: EventBus):
    handler = Recorder(fail_first=1)
    event = lead_imported()
    await bus.publish(event)
    async with DurableConsumer(bus, quick("retry"), handler).running():
        await handler.wait_until(lambda: handler.handled)
    assert handler.handled == [event]
    assert [delivery.delivery_count for _, delivery in handler.seen] == [1, 2]


async def test_a_poison_message_is_dead_lettered_after_the_bound(bus: EventBus, log_watch):
    handler = Recorder(fail_always=True)
    poison = lead_imported()
    ack = await bus.publish(poison)
    async with DurableConsumer(bus, quick("poison", max_deliveries=3), handler).running():
        dead = await log_watch.wait_for(lambda r: "Dead letter" in r["message"])
        handler.fail_always = False
        follower = lead_imported(lead_id=uuid4())
        await bus.publish(follower)
        await handler.wait_until(lambda: handler.handled)
    assert dead["message"] == (
        f"Dead letter on {poison.subject} seq {ack.seq} after 3 deliveries: CRM is down"
    )
    assert [event for event, _ in handler.seen] == [poison, poison, poison, follower]
    info = await bus.js.consumer_info(bus.stream, "poison")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_a_malformed_message_is_dead_lettered_without_reaching_the_handler(
    bus: EventBus, log_watch
):
    handler = Recorder()
    ack = await bus.js.publish("sales.lead.garbage.imported", b"not json at all")
    async with DurableConsumer(bus, quick("malformed"), handler).running():
        dead = await log_watch.wait_for(lambda r: "Dead letter" in r["message"])
    assert f"sales.lead.garbage.imported seq {ack.seq} after 1 deliveries" in dead["message"]
    assert handler.seen == []


async def test_a_restarted_consumer_resumes_where_it_left_off(bus: EventBus):
    first_half = [lead_imported(lead_id=uuid4()) for _ in range(300)]
    second_half = [lead_imported(lead_id=uuid4()) for _ in range(300)]
    await bus.publish_many(first_half)

    before = Recorder()
    consumer = DurableConsumer(bus, quick("resume", batch_size=50), before)
    async with consumer.running():
        await before.wait_until(lambda: len(before.handled) >= 120)
    assert 120 <= len(before.handled) < 300  # stopped part-way, finishing its batch

    await bus.publish_many(second_half)
    after = Recorder()
    async with DurableConsumer(bus, quick("resume", batch_size=50), after).running():
        await after.wait_until(lambda: len(before.handled) + len(after.handled) >= 600)
    assert before.handled + after.handled == first_half + second_half  # in order, once each


async def test_a_consumer_filters_its_subjects(bus: EventBus):
    from tests.factories import one_of_each_event

    handler = Recorder()
    events = one_of_each_event()
    await bus.publish_many(events)
    settings = quick("calls-only", subjects=("sales.call.*.failed", "sales.call.*.completed"))
    async with DurableConsumer(bus, settings, handler).running():
        await handler.wait_until(lambda: len(handler.handled) >= 2)
    assert [type(e).__name__ for e in handler.handled] == ["CallFailed", "CallCompleted"]

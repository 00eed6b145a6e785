"""A running scheduler on real NATS and real HTTP, and a stand-in carrier for its calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx

from libs.bus import ConsumerSettings, Delivery, DurableConsumer, EventBus
from libs.events import (
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRequested,
    decode_event,
)
from libs.runtime.app import build_app
from services.scheduler.clock import Clock
from services.scheduler.plugin import build_plugin
from tests.support import serving

FAST_ENVIRONMENT = {
    "CALLS_PER_SECOND": "200",
    "MAX_CONCURRENT_CALLS": "4",
    "RETRY_BACKOFF_MINUTES": "0,0",
}


def clock_at(moment: datetime) -> Callable[[], datetime]:
    """Real time, starting now at `moment`: the window rules see a fixed weekday hour."""
    offset = moment - datetime.now(moment.tzinfo)

    def now() -> datetime:  # real time shifted: seconds still pass as seconds, timers work
        return datetime.now(UTC) + offset

    return now


@contextlib.asynccontextmanager
async def running_scheduler(
    bus: EventBus, moment: datetime, clock: Clock | None = None, **environment: str
) -> AsyncIterator[httpx.AsyncClient]:
    plugin = build_plugin({**FAST_ENVIRONMENT, **environment}, clock=clock or clock_at(moment))
    app = build_app([plugin], bus=bus, api_token=None, title="scheduler")
    async with serving(app) as client:
        yield client


class StandInCarrier:
    """Answers each CallRequested with a call's lifecycle, and records what it saw."""

    def __init__(self, bus: EventBus, busy_first_attempt: set[str] = frozenset()) -> None:
        self.bus = bus
        self.busy_first_attempt = busy_first_attempt
        self.requests: list[CallRequested] = []
        self.live: set[object] = set()
        self.most_live = 0
        self.ended = 0
        self._progress = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _on_request(self, event: AnyEvent, delivery: Delivery) -> None:
        assert isinstance(event, CallRequested)
        self.requests.append(event)
        self.live.add(event.call_id)
        self.most_live = max(self.most_live, len(self.live))
        task = asyncio.create_task(self._play(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, call: CallRequested) -> None:
        ids = {"call_id": call.call_id, "lead_id": call.lead_id, "campaign_id": call.campaign_id}
        now = call.occurred_at
        events: list = [
            CallPlaced(
                event_id=uuid4(),
                occurred_at=now,
                provider="stand-in",
                provider_call_id=f"CA{call.call_id.hex}",
                **ids,
            )
        ]
        if call.attempt == 1 and call.lead.phone_number in self.busy_first_attempt:
            events.append(CallFailed(event_id=uuid4(), occurred_at=now, reason="busy", **ids))
        else:
            events.append(
                CallAnswered(event_id=uuid4(), occurred_at=now, answered_by="human", **ids)
            )
            events.append(
                CallCompleted(
                    event_id=uuid4(),
                    occurred_at=now + timedelta(seconds=30),
                    duration_seconds=30,
                    **ids,
                )
            )
        await self.bus.publish(events[0])
        await asyncio.sleep(0.02)  # the call itself takes a moment, as calls do
        self.live.discard(call.call_id)  # before the final event: the line is free then
        self.ended += 1
        await self.bus.publish_many(events[1:])
        self._progress.set()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._progress.clear()
                await self._progress.wait()

    def attempts_per_lead(self) -> Counter[tuple[object, int]]:
        return Counter((request.lead_id, request.attempt) for request in self.requests)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StandInCarrier]:
        settings = ConsumerSettings(
            durable=f"stand-in-{uuid4().hex[:6]}",
            subjects=("sales.call.*.requested",),
            idle_wait=0.2,
        )
        async with DurableConsumer(self.bus, settings, self._on_request).running():
            yield self
            for task in list(self._tasks):
                await task


async def next_event(bus: EventBus, subject: str, timeout: float = 60) -> AnyEvent:
    """The first event on `subject`, already there or still to come."""
    subscription = await bus.js.pull_subscribe(subject, durable=f"wait-{uuid4().hex[:8]}")
    try:
        [message] = await subscription.fetch(1, timeout=timeout)
        return decode_event(message.data, message.subject)
    finally:
        await subscription.unsubscribe()

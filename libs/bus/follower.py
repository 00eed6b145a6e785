"""Follow some subjects of the stream into an in-memory fold, from the first event on.

Each process keeps its own (an ephemeral consumer, nothing to ack), so every replica of a
service sees every fact. `caught_up()` returns once every event stored so far on those
subjects is folded in: a check made after it reads the stream as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import nats.errors
from loguru import logger
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.bus.bus import EventBus
from libs.events.codec import MalformedEventError, decode_event
from libs.events.model import AnyEvent
from libs.runtime.supervision import mark_running, supervise


class StreamFollower:
    def __init__(
        self, bus: EventBus, subjects: Sequence[str], apply: Callable[[AnyEvent], None], name: str
    ) -> None:
        self.bus = bus
        self.subjects = list(subjects)
        self.apply = apply
        self.name = name
        self.applied_sequence = 0
        self._subscription: nats.js.JetStreamContext.PullSubscription | None = None
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._failed = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StreamFollower]:
        await self._subscribe()
        task = supervise(f"follower-{self.name}", self._follow, self._stopping)
        try:
            yield self
        finally:
            # Not task.cancel(): nats-py's fetch turns a cancellation into a timeout.
            self._stopping.set()
            with contextlib.suppress(Exception):  # the supervisor has logged its failures
                await task
            if self._subscription is not None and self.bus.nc.is_connected:
                with contextlib.suppress(nats.errors.Error, NotFoundError):
                    await self._subscription.unsubscribe()

    async def caught_up(self, timeout: float = 5.0) -> None:
        """Wait until everything stored on the subjects so far has been applied."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                assert self._subscription is not None
                info = await self._subscription.consumer_info()
                delivered = info.delivered.stream_seq if info.delivered else 0
                if not info.num_pending and self.applied_sequence >= (delivered or 0):
                    return
                await self._changed.wait()

    async def _subscribe(self) -> None:
        start = self.applied_sequence + 1
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start > 1 else DeliverPolicy.ALL,
            opt_start_seq=start if start > 1 else None,
            inactive_threshold=60.0,
        )
        # One subject goes in the consumer's create call, where a permission can pin it.
        filter_subject = self.subjects[0] if len(self.subjects) == 1 else ""
        if not filter_subject:
            config.filter_subjects = self.subjects
        self._subscription = await self.bus.js.pull_subscribe(
            filter_subject, stream=self.bus.stream, config=config
        )

    async def _follow(self) -> None:
        # A restart (after a failure the supervisor saw) picks up after the last event
        # applied, on a new ephemeral consumer.
        if self._failed:
            await self._subscribe()
            self._failed = False
            mark_running()
        try:
            await self._follow_subscription()
        except Exception:
            self._failed = True
            raise

    async def _follow_subscription(self) -> None:
        while not self._stopping.is_set():
            assert self._subscription is not None
            try:
                messages = await self._subscription.fetch(256, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except NotFoundError:
                # The ephemeral consumer is gone (a NATS restart outlived it): a new one.
                await self._subscribe()
                continue
            mark_running()
            for message in messages:
                sequence = message.metadata.sequence.stream
                if sequence <= self.applied_sequence:
                    continue
                try:
                    self.apply(decode_event(message.data, message.subject))
                except MalformedEventError as exc:
                    logger.error("{name}: skipping {error}", name=self.name, error=str(exc))
                self.applied_sequence = sequence
            self._changed.set()

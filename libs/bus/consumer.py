"""Durable pull consumers: decode, handle, ack; retry what may succeed, park what cannot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import nats.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus.bus import EventBus
from libs.events.codec import MalformedEventError, decode_event
from libs.events.model import AnyEvent
from libs.events.subjects import ALL_SUBJECTS
from libs.runtime.supervision import current_supervisor, mark_running


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a message sits in the stream, and how often it has been handed out."""

    subject: str
    stream_sequence: int
    delivery_count: int
    stored_at: datetime | None = None  # when JetStream stored it, by the server's clock


class RetryLater(Exception):
    """Raised by a handler that cannot decide yet: the event is redelivered after `delay`
    seconds. Waiting is not failing: it is not logged as a failure, and this process never
    dead-letters it (the server still stops at max_deliveries, so size that for the wait)."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay:g}s")
        self.delay = delay


Handler = Callable[[AnyEvent, Delivery], Awaitable[None]]
# Receives one fetched batch, in stream order; the batch is acked together once it returns.
BatchHandler = Callable[[list[tuple[AnyEvent, Delivery]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    durable: str
    subjects: tuple[str, ...] = (ALL_SUBJECTS,)
    max_deliveries: int = 5  # then the message is terminated and logged as dead
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)  # nak delay by delivery count
    batch_size: int = 256
    idle_wait: float = 1.0  # how long one idle fetch waits; bounds shutdown latency
    ack_wait: float = 30.0
    deliver_new_only: bool = False  # start at the first event unless told otherwise


class DurableConsumer:
    """Feeds every event on its subjects to `handler`, at least once, in stream order."""

    def __init__(self, bus: EventBus, settings: ConsumerSettings, handler: Handler) -> None:
        self.bus = bus
        self.settings = settings
        self.handler = handler
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Consume until `stop`. A failure of the subscription (NATS away, the durable
        deleted) restarts it under the process's supervisor, from the durable's position."""
        await current_supervisor().run(
            f"consumer-{self.settings.durable}", self._consume, self._stopping
        )

    def stop(self) -> None:
        """Finish the message in hand, then return from `run`."""
        self._stopping.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[DurableConsumer]:
        task = asyncio.create_task(self.run(), name=f"consumer-{self.settings.durable}")
        try:
            yield self
        finally:
            self.stop()
            # Its failures were logged and reported by the supervisor: leave quietly.
            with contextlib.suppress(Exception):
                await task

    async def _consume(self) -> None:
        settings = self.settings
        if self._stopping.is_set():
            return
        subscription = await self._subscribe()
        mark_running()
        logger.info(
            "Consumer {durable} started on {subjects}",
            durable=settings.durable,
            subjects=",".join(settings.subjects),
        )
        had_messages = False
        try:
            while not self._stopping.is_set():
                messages = await self._next_batch(subscription, had_messages)
                had_messages = bool(messages)
                await self._handle(messages)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
                if self.bus.nc.is_connected:
                    await self.bus.nc.flush()  # acks are fire-and-forget: send them first
            logger.info("Consumer {durable} stopped", durable=settings.durable)

    async def _subscribe(self) -> nats.js.JetStreamContext.PullSubscription:
        settings = self.settings
        config = ConsumerConfig(
            durable_name=settings.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait,
            max_deliver=settings.max_deliveries,
            deliver_policy=DeliverPolicy.NEW if settings.deliver_new_only else DeliverPolicy.ALL,
            max_ack_pending=max(settings.batch_size * 4, 1000),
        )
        if len(settings.subjects) == 1:
            config.filter_subject = settings.subjects[0]
        else:
            config.filter_subjects = list(settings.subjects)
        await self.bus.js.add_consumer(self.bus.stream, config)
        return await self.bus.js.pull_subscribe_bind(
            durable=settings.durable, stream=self.bus.stream
        )

    async def _next_batch(
        self, subscription: nats.js.JetStreamContext.PullSubscription, had_messages: bool
    ) -> list[Msg]:
        # After a busy batch ask for many without lingering; when idle, wait for one, so
        # a lone event is handled the moment it arrives instead of when a batch fills up.
        batch, wait = (
            (self.settings.batch_size, 0.05) if had_messages else (1, self.settings.idle_wait)
        )
        try:
            return await subscription.fetch(batch, timeout=wait)
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    async def _handle(self, messages: list[Msg]) -> None:
        for message in messages:
            await self._process(message)

    async def _process(self, message: Msg) -> None:
        delivery = _delivery_of(message)
        try:
            event = decode_event(message.data, message.subject)
        except MalformedEventError as exc:
            await self._dead_letter(message, delivery, exc)
            return
        try:
            await self.handler(event, delivery)
        except RetryLater as later:
            logger.debug(
                "Not yet on {subject} seq {sequence}: {reason}",
                subject=delivery.subject,
                sequence=delivery.stream_sequence,
                reason=str(later),
            )
            await message.nak(delay=later.delay)
            return
        except Exception as exc:  # the top of a consume loop: the one broad catch we allow
            if delivery.delivery_count >= self.settings.max_deliveries:
                await self._dead_letter(message, delivery, exc)
                return
            delay = self._retry_delay(delivery.delivery_count)
            logger.opt(exception=exc).warning(
                "Handler failed on {subject} seq {sequence} (delivery {count}); retry in {delay}s",
                subject=delivery.subject,
                sequence=delivery.stream_sequence,
                count=delivery.delivery_count,
                delay=delay,
            )
            await message.nak(delay=delay)
            return
        await message.ack()

    def _retry_delay(self, delivery_count: int) -> float:
        delays = self.settings.retry_delays
        return delays[min(delivery_count, len(delays)) - 1]

    async def _dead_letter(self, message: Msg, delivery: Delivery, error: Exception) -> None:
        # Redelivery cannot fix it: stop it here, and leave its address in the log.
        logger.error(
            "Dead letter on {subject} seq {sequence} after {count} deliveries: {error}",
            subject=delivery.subject,
            sequence=delivery.stream_sequence,
            count=delivery.delivery_count,
            error=str(error),
            durable=self.settings.durable,
        )
        await message.term()


def _delivery_of(message: Msg) -> Delivery:
    metadata = message.metadata
    return Delivery(
        subject=message.subject,
        stream_sequence=metadata.sequence.stream,
        delivery_count=metadata.num_delivered,
        stored_at=metadata.timestamp,
    )


class DurableBatchConsumer(DurableConsumer):
    """Feeds each fetched batch to `handler` whole, then acks it together.

    For writers whose cost is per transaction (a database), not per event. A failed batch
    is nakked as a whole; once one of its events has used up its deliveries, the batch is
    handled one event at a time, so only the event that keeps failing is dead-lettered.
    """

    def __init__(self, bus: EventBus, settings: ConsumerSettings, handler: BatchHandler) -> None:
        super().__init__(bus, settings, self._handle_one)
        self.batch_handler = handler

    async def _handle_one(self, event: AnyEvent, delivery: Delivery) -> None:
        await self.batch_handler([(event, delivery)])

    async def _handle(self, messages: list[Msg]) -> None:
        batch: list[tuple[AnyEvent, Delivery]] = []
        readable: list[Msg] = []
        for message in messages:
            delivery = _delivery_of(message)
            try:
                event = decode_event(message.data, message.subject)
            except MalformedEventError as exc:
                await self._dead_letter(message, delivery, exc)
                continue
            batch.append((event, delivery))
            readable.append(message)
        if not batch:
            return
        try:
            await self.batch_handler(batch)
        except Exception as exc:  # the top of a consume loop: the one broad catch we allow
            await self._batch_failed(readable, batch, exc)
            return
        for message in readable:
            await message.ack()

    async def _batch_failed(
        self, messages: list[Msg], batch: list[tuple[AnyEvent, Delivery]], error: Exception
    ) -> None:
        counts = [delivery.delivery_count for _, delivery in batch]
        if max(counts) >= self.settings.max_deliveries:
            if len(messages) == 1:
                await self._dead_letter(messages[0], batch[0][1], error)
                return
            for message in messages:  # one at a time: find the one that cannot succeed
                await self._process(message)
            return
        delay = self._retry_delay(max(counts))
        first = batch[0][1]
        logger.opt(exception=error).warning(
            "Batch handler failed on {size} events from seq {sequence} (delivery {count}); "
            "retry in {delay}s",
            size=len(batch),
            sequence=first.stream_sequence,
            count=max(counts),
            delay=delay,
        )
        for message in messages:
            await message.nak(delay=delay)

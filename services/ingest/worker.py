"""Ingest's projection of LeadImported: which leads are already on the stream.

A pull consumer of headers only, starting with the latest event per lead: the subject
names the lead and Nats-Msg-Id the event, so rebuilding reads one small message per lead
and never decodes a body. It catches up before every import, so an import sees every
lead stored before it began, whoever stored it, and in the background while no import
runs, so reading back an import's own events never slows the import down. Leads stored
by another process during an import are covered by JetStream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus import EventBus
from libs.bus.bus import MSG_ID_HEADER
from libs.events import LeadImported, subject_filter
from services.ingest.registry import LeadRegistry

FETCH_BATCH = 1000
IDLE_CATCH_UP_SECONDS = 5.0
CONSUMER_IDLE_LIMIT_SECONDS = 300.0  # the server drops the consumer of a process gone


class LeadProjection:
    def __init__(self, bus: EventBus, registry: LeadRegistry, ready: asyncio.Event) -> None:
        self.bus, self.registry, self.ready = bus, registry, ready
        self.imports_running = 0
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._lock = asyncio.Lock()
        self._idle_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.catch_up()
        self._idle_task = asyncio.create_task(self._catch_up_when_idle(), name="ingest-leads")

    async def stop(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
        if self._subscription is not None and not self.bus.nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await self._subscription.unsubscribe()

    async def catch_up(self) -> None:
        """Read every LeadImported stored since the last call (at first: every lead)."""
        async with self._lock:
            if self._subscription is None:
                self._subscription = await self._subscribe()
            subscription = self._subscription
            pending = (await subscription.consumer_info()).num_pending
            while pending:
                messages = await subscription.fetch(min(pending, FETCH_BATCH), timeout=10)
                for message in messages:
                    self._observe(message)
                pending = messages[-1].metadata.num_pending
            if not self.ready.is_set():
                self.ready.set()
                logger.info("Known leads read from the stream: {count}", count=len(self.registry))

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            headers_only=True,
            inactive_threshold=CONSUMER_IDLE_LIMIT_SECONDS,
            mem_storage=True,
        )
        return await self.bus.js.pull_subscribe(
            subject_filter(LeadImported), stream=self.bus.stream, config=config
        )

    def _observe(self, message: Msg) -> None:
        try:
            lead_key = _uuid_int(message.subject.split(".")[2])
            event_key = _uuid_int((message.headers or {})[MSG_ID_HEADER])
        except (IndexError, KeyError, ValueError):
            logger.warning("Ignoring {subject}: no lead id or event id", subject=message.subject)
            return
        self.registry.observe(lead_key, event_key)

    async def _catch_up_when_idle(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CATCH_UP_SECONDS)
            if self.imports_running:
                continue
            try:
                await self.catch_up()
            except (nats.errors.Error, TimeoutError) as exc:
                # The consumer may be gone (a NATS restart): start again from the top.
                logger.warning("Reading imported leads failed: {error}", error=str(exc))
                self._subscription = None


def _uuid_int(text: str) -> int:
    hex_digits = text.replace("-", "")
    if len(hex_digits) != 32:
        raise ValueError(text)
    return int(hex_digits, 16)

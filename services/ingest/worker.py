"""Ingest's background work: the projection of imported leads, the drop folder, and the
file named by LEADS_CSV_PATH imported at start."""

from __future__ import annotations

import asyncio

from loguru import logger
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from libs.events import EventBus, LeadImported, subject_filter
from libs.events.bus import MSG_ID_HEADER
from services.ingest.registry import LeadRegistry


class LeadProjection:
    """Follows sales.lead.*.imported into the registry, at start and then live.

    An ordered consumer with headers only, latest per lead: the subject names the lead
    and Nats-Msg-Id the event, so rebuilding reads one small message per lead, not every
    event ever published, and never decodes a body.
    """

    def __init__(self, bus: EventBus, registry: LeadRegistry, ready: asyncio.Event) -> None:
        self.bus, self.registry, self.ready = bus, registry, ready
        self._subscription: object | None = None

    async def start(self) -> None:
        subscription = await self.bus.js.subscribe(
            subject_filter(LeadImported),
            stream=self.bus.stream,
            cb=self._on_message,
            ordered_consumer=True,
            headers_only=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )
        self._subscription = subscription
        info = await subscription.consumer_info()
        if info.num_pending == 0 and info.delivered.stream_seq == 0:
            self._caught_up()

    async def stop(self) -> None:
        if self._subscription is not None and not self.bus.nc.is_closed:
            await self._subscription.unsubscribe()  # type: ignore[attr-defined]

    async def _on_message(self, message: Msg) -> None:
        try:
            lead_key = _uuid_int(message.subject.split(".")[2])
            event_key = _uuid_int((message.headers or {})[MSG_ID_HEADER])
        except (IndexError, KeyError, ValueError):
            logger.warning("Ignoring {subject}: no lead id or event id", subject=message.subject)
        else:
            self.registry.observe(lead_key, event_key)
        if message.metadata.num_pending == 0:
            self._caught_up()

    def _caught_up(self) -> None:
        if not self.ready.is_set():
            self.ready.set()
            logger.info("Known leads read from the stream: {count}", count=len(self.registry))


def _uuid_int(text: str) -> int:
    hex_digits = text.replace("-", "")
    if len(hex_digits) != 32:
        raise ValueError(text)
    return int(hex_digits, 16)

"""Consumers: each CallRequested becomes a call; a stop with hang-up ends a campaign's calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID

from loguru import logger

from libs.events import (
    AnyEvent,
    CallRequested,
    CampaignStopped,
    ConsumerSettings,
    Delivery,
    DurableConsumer,
    EventBus,
    subject_filter,
)
from services.telephony import call_facts
from services.telephony.config import TelephonySettings
from services.telephony.domain import (
    call_failed,
    call_placed,
    effective_time_limit,
    failure_reason_for_error,
    is_campaign_stopped,
    is_request_stale,
)
from services.telephony.providers import CallProvider, CallRejectedError, UnknownCallError

CONSUMER = ConsumerSettings(
    durable="telephony",
    subjects=(subject_filter(CallRequested), subject_filter(CampaignStopped)),
    retry_delays=(2.0, 10.0, 30.0),
    batch_size=16,
)


class CallDialer:
    """Decode, decide, call the provider, publish; the consumer acks after."""

    def __init__(
        self,
        bus: EventBus,
        provider: CallProvider,
        settings: TelephonySettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bus = bus
        self.provider = provider
        self.settings = settings
        self.clock = clock
        # Calls this process dialled: if storing CallPlaced failed, the redelivered request
        # retries the publish instead of dialling the lead a second time.
        self._dialled: dict[UUID, str] = {}

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if isinstance(event, CallRequested):
            with logger.contextualize(call_id=str(event.call_id), lead_id=str(event.lead_id)):
                await self.place(event)
        elif isinstance(event, CampaignStopped) and event.hang_up_live_calls:
            with logger.contextualize(campaign_id=str(event.campaign_id)):
                await self.hang_up_campaign(event)

    async def place(self, request: CallRequested) -> None:
        if (earlier := await call_facts.call_placement(self.bus, request.call_id)) is not None:
            logger.info("Already {fact}: not dialling again", fact=type(earlier).__name__)
            return
        now = self.clock()
        if is_request_stale(request, now, self.settings.request_expiry_seconds):
            detail = "the request waited too long to be dialled (its calling window may be over)"
            await self.bus.publish(call_failed(request, "canceled", now, detail=detail))
            logger.warning("Not dialling: request expired")
            return
        started, stopped = await call_facts.campaign_events(self.bus, request.campaign_id)
        if is_campaign_stopped(started, stopped):
            detail = "the campaign was stopped before this call was dialled"
            await self.bus.publish(call_failed(request, "canceled", now, detail=detail))
            logger.info("Not dialling: campaign stopped")
            return
        time_limit = effective_time_limit(request, self.settings.call_timeout_seconds)
        try:
            provider_call_id = self._dialled.get(request.call_id) or await self.provider.place_call(
                request, time_limit
            )
        except CallRejectedError as exc:
            reason = failure_reason_for_error(exc.code)
            failed = call_failed(
                request, reason, self.clock(), detail=exc.message, error_code=exc.code
            )
            await self.bus.publish(failed)
            logger.info("Carrier refused the call: {reason} ({code})", reason=reason, code=exc.code)
            return
        self._dialled[request.call_id] = provider_call_id
        placed = call_placed(request, self.provider.name, provider_call_id, self.clock())
        await self.bus.publish(placed)
        del self._dialled[request.call_id]
        self.provider.call_placed(provider_call_id)
        logger.info(
            "Call placed via {provider} as {sid}, attempt {attempt}, limit {limit}s",
            provider=self.provider.name,
            sid=provider_call_id,
            attempt=request.attempt,
            limit=time_limit,
        )

    async def hang_up_campaign(self, stopped: CampaignStopped) -> None:
        calls = await call_facts.live_calls_of_campaign(self.bus, stopped.campaign_id)
        logger.info("Campaign stopped: hanging up {count} live calls", count=len(calls))
        for call in calls:
            with logger.contextualize(call_id=str(call.call_id)):
                try:
                    await self.provider.hang_up(call.provider_call_id, answered=call.answered)
                except UnknownCallError:
                    logger.info("Call had already ended at the carrier")
                except CallRejectedError as exc:
                    logger.warning("Carrier refused the hang-up: {error}", error=exc.message)


@asynccontextmanager
async def running_dialer(dialer: CallDialer) -> AsyncIterator[DurableConsumer]:
    consumer = DurableConsumer(dialer.bus, CONSUMER, dialer.handle)
    async with consumer.running():
        yield consumer

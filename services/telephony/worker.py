"""Consumers: each CallRequested becomes a call; a stop with hang-up ends a campaign's calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID

from loguru import logger

from libs.bus import ConsumerSettings, Delivery, DurableConsumer, EventBus
from libs.bus.follower import StreamFollower
from libs.compliance import SUBJECTS as COMPLIANCE_SUBJECTS
from libs.compliance import (
    Callee,
    CallingHours,
    ComplianceFacts,
    Law,
    check_call,
)
from libs.events import AnyEvent, CallRequested, CampaignStopped, subject_filter
from services.telephony import call_facts
from services.telephony.config import TelephonySettings
from services.telephony.domain import (
    call_failed,
    call_placed,
    effective_time_limit,
    failure_reason_for_error,
)
from services.telephony.providers import CallProvider, CallRejectedError, UnknownCallError

ZERO = timedelta(0)
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
        law: Law,
        default_hours: CallingHours,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bus = bus
        self.provider = provider
        self.settings = settings
        self.law = law
        self.default_hours = default_hours  # for a campaign the stream has not told us of
        self.clock = clock
        # What the calling rules need, kept from the stream by this process.
        self.compliance = ComplianceFacts()
        self.follower = StreamFollower(
            bus, COMPLIANCE_SUBJECTS, self.compliance.apply, name="telephony-rules"
        )
        # Calls this process dialled: if storing CallPlaced failed, the redelivered request
        # retries the publish instead of dialling the lead a second time.
        self._dialled: dict[UUID, str] = {}

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if isinstance(event, CallRequested):
            with logger.contextualize(call_id=str(event.call_id), lead_id=str(event.lead_id)):
                await self.place(event, delivery)
        elif isinstance(event, CampaignStopped) and event.hang_up_live_calls:
            with logger.contextualize(campaign_id=str(event.campaign_id)):
                await self.hang_up_campaign(event)

    async def place(self, request: CallRequested, delivery: Delivery | None = None) -> None:
        if (earlier := await call_facts.call_placement(self.bus, request.call_id)) is not None:
            logger.info("Already {fact}: not dialling again", fact=type(earlier).__name__)
            return
        # The rules, once more, against the stream as it is now: an opt-out, a pause or a
        # closed window since the scheduler decided must stop the call.
        await self.follower.caught_up()
        now = self.rules_time(request, delivery)
        hours = self.compliance.campaign_hours.get(request.campaign_id, self.default_hours)
        refusal = check_call(
            Callee.of(request.lead),
            self.compliance.facts_for(request.lead_id, request.campaign_id, request.occurred_at),
            hours,
            self.law,
            now,
        )
        if refusal is not None:
            failed = call_failed(
                request, "canceled", self.clock(), detail=refusal.detail, rule=refusal.rule
            )
            await self.bus.publish(failed)
            logger.warning(
                "Not dialling: rule {rule} ({detail})", rule=refusal.rule, detail=refusal.detail
            )
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
        self.compliance.apply(placed)  # counts at once for the next request to this number
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

    def rules_time(self, request: CallRequested, delivery: Delivery | None) -> datetime:
        """The moment the rules are checked at: now, on the clock the decision was taken by.

        Live, that is the real clock. In simulation the scheduler's clock runs ahead of real
        time, so the check reads the decision's time plus the real time since it was stored.
        """
        if self.settings.mode == "live" or delivery is None or delivery.stored_at is None:
            return self.clock()
        return request.occurred_at + max(datetime.now(UTC) - delivery.stored_at, ZERO)

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
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(dialer.follower.running())
        await dialer.follower.caught_up(timeout=120)
        await stack.enter_async_context(consumer.running())
        yield consumer

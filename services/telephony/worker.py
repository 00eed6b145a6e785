"""Consumers: each CallRequested becomes a call; a stop with hang-up ends a campaign's calls.

A request is dialled at most once, whatever the redeliveries, restarts and replicas: the
dialer first claims it (CallDialing, stored only on an empty subject), and whoever finds
a claim already made, or loses track of its own create, asks the carrier what became of
the call instead of dialling again.
"""

from __future__ import annotations

import asyncio
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
from libs.events import AnyEvent, CallDialing, CallRequested, CampaignStopped, subject_filter
from services.telephony import call_facts
from services.telephony.config import TelephonySettings
from services.telephony.domain import (
    FINAL_STATUSES,
    CallEvent,
    LiveCall,
    call_dialing,
    call_failed,
    call_placed,
    effective_time_limit,
    events_for_callback,
    events_for_lost_call,
    failure_reason_for_error,
    replica_of,
)
from services.telephony.providers import (
    CallOutcomeUnknownError,
    CallProvider,
    CallRejectedError,
    CarrierUnavailableError,
    UnknownCallError,
)

ZERO = timedelta(0)
CONSUMER = ConsumerSettings(
    durable="telephony",
    subjects=(subject_filter(CallRequested), subject_filter(CampaignStopped)),
    retry_delays=(2.0, 10.0, 30.0),
    batch_size=16,
)


class DialPendingError(RuntimeError):
    """The carrier does not list the call yet, but its create may still land: the request
    is redelivered later, and asked about again."""


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
        self.claimant = settings.claimant
        # Calls this process created: if storing CallPlaced failed, the redelivery stores it
        # from here, not from the carrier's call list, which may lag behind the create.
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
        if (claim := await call_facts.dialing_claim(self.bus, request.call_id)) is not None:
            # Dialled, or about to be, by an earlier delivery, life or replica: the call may
            # exist, so no rule may cancel it now, and it is never dialled again.
            await self.reconcile(request, claim, delivery)
            return
        if await self.refused_by_rules(request, delivery):
            return
        # Stamped by the wall clock, not the rules' clock: the carrier's call list is read
        # against it.
        claim = call_dialing(request, self.provider.name, self.claimant, datetime.now(UTC))
        if not await self.bus.publish_if_first(claim):
            logger.info("Another dialer claimed the call first: asking the carrier")
            winner = await call_facts.dialing_claim(self.bus, request.call_id)
            if winner is None:  # the subject holds something else: not ours to settle now
                raise DialPendingError("the claim was refused but no claim is stored")
            await self.reconcile(request, winner, delivery)
            return
        time_limit = effective_time_limit(request, self.settings.call_timeout_seconds)
        try:
            # The SDK's own HTTP timeout does not bound an async request: this does.
            async with asyncio.timeout(self.settings.carrier_create_timeout_seconds):
                provider_call_id = await self.provider.place_call(request, time_limit)
        except CallRejectedError as exc:
            reason = failure_reason_for_error(exc.code)
            failed = call_failed(
                request, reason, self.clock(), detail=exc.message, error_code=exc.code
            )
            await self.bus.publish(failed)
            logger.info("Carrier refused the call: {reason} ({code})", reason=reason, code=exc.code)
            return
        except CarrierUnavailableError as exc:
            # Certainly not created: nothing rang, so it is no attempt; the lead is asked
            # again, and a claim is never left without an answer.
            await self.bus.publish(
                call_failed(request, "not-dialled", self.clock(), detail=str(exc))
            )
            logger.warning("Carrier would not take the call: {error}", error=str(exc))
            return
        except (TimeoutError, CallOutcomeUnknownError) as exc:
            why = str(exc) or f"no answer within {self.settings.carrier_create_timeout_seconds}s"
            logger.warning("Create at the carrier unanswered ({why}): asking after it", why=why)
            await self.reconcile(request, claim, delivery)
            return
        self._dialled[request.call_id] = provider_call_id
        await self.store_placed(request, provider_call_id)

    async def store_placed(self, request: CallRequested, provider_call_id: str) -> None:
        placed = call_placed(request, self.provider.name, provider_call_id, self.clock())
        self.compliance.apply(placed)  # counts at once for the next request to this number
        await self.bus.publish(placed)
        self._dialled.pop(request.call_id, None)
        self.provider.call_placed(provider_call_id)
        logger.info(
            "Call placed via {provider} as {sid}, attempt {attempt}",
            provider=self.provider.name,
            sid=provider_call_id,
            attempt=request.attempt,
        )

    async def refused_by_rules(self, request: CallRequested, delivery: Delivery | None) -> bool:
        """The rules, once more, against the stream as it is now: an opt-out, a pause or a
        closed window since the scheduler decided must stop the call."""
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
        if refusal is None:
            return False
        failed = call_failed(
            request, "canceled", self.clock(), detail=refusal.detail, rule=refusal.rule
        )
        await self.bus.publish(failed)
        logger.warning(
            "Not dialling: rule {rule} ({detail})", rule=refusal.rule, detail=refusal.detail
        )
        return True

    async def reconcile(
        self, request: CallRequested, claim: CallDialing, delivery: Delivery | None
    ) -> None:
        """What became of a claimed dial, from the carrier: the call it created is placed;
        none by the create's bound and grace after the claim, and it was never dialled."""
        provider_call_id = self._dialled.get(request.call_id) or await self.provider.find_call(
            request, claim.occurred_at
        )
        if provider_call_id is not None:
            logger.info("The carrier has the call as {sid}", sid=provider_call_id)
            await self.store_placed(request, provider_call_id)
            return
        settings = self.settings
        age = (datetime.now(UTC) - claim.occurred_at).total_seconds()
        may_land = settings.carrier_create_timeout_seconds + settings.carrier_create_grace_seconds
        # The request's last delivery must settle the claim, or nothing ever would (short of
        # the scheduler's time-out); the retry delays outlast the default bound and grace.
        last_delivery = delivery is not None and delivery.delivery_count >= CONSUMER.max_deliveries
        if age < may_land and not last_delivery:
            raise DialPendingError(
                f"no call at the carrier yet, {age:.1f}s after {claim.claimed_by} claimed it; "
                f"asking again until {may_land:.0f}s"
            )
        detail = (
            f"claimed by {claim.claimed_by} at {claim.occurred_at.isoformat()}, but the "
            f"carrier has no call to {request.lead.phone_number} since then"
        )
        await self.bus.publish(call_failed(request, "not-dialled", self.clock(), detail=detail))
        logger.warning("Never dialled: {detail}", detail=detail)

    async def end_lost_calls(self) -> None:
        """At start: the calls an earlier life of this replica held that the carrier has
        ended (or, simulated, lost with that process) are ended here, at once, so their
        lines are free now and not at the scheduler's time-out."""
        calls = await call_facts.live_calls_now(self.bus)
        ended = 0
        for call in calls:
            with logger.contextualize(call_id=str(call.call_id)):
                claim = await call_facts.dialing_claim(self.bus, call.call_id)
                if claim is None:
                    continue  # dialled before claims were kept
                if replica_of(claim.claimed_by) != self.settings.replica_name:
                    continue  # another replica's: it answers for its own calls
                try:
                    ended += await self.end_if_over(call)
                except Exception as exc:  # one call the carrier cannot tell about must not
                    # keep the rest live; its callbacks or the scheduler's time-out remain
                    logger.warning("Could not ask after the call: {error}", error=str(exc))
        logger.info(
            "Restart: {ended} of {count} live calls ended as the carrier has them",
            ended=ended,
            count=len(calls),
        )

    async def end_if_over(self, call: LiveCall) -> int:
        request = await call_facts.call_request(self.bus, call.call_id)
        if request is None:
            return 0
        with logger.contextualize(lead_id=str(request.lead_id)):
            state = await self.provider.call_state(call.provider_call_id)
            events: list[CallEvent]
            if state is None:
                events = events_for_lost_call(request, call, self.clock())
            elif state.call_status in FINAL_STATUSES:
                progress = await call_facts.call_progress(self.bus, call.call_id)
                events = events_for_callback(request, progress, state, self.clock())
            else:
                return 0  # still live at the carrier: its own callbacks will end it
            if events:
                await self.bus.publish_many(events)
            logger.info(
                "Held before the restart, now over: {events}",
                events=",".join(type(event).__name__ for event in events) or "nothing new",
            )
            return 1

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
        await dialer.end_lost_calls()
        await stack.enter_async_context(consumer.running())
        yield consumer

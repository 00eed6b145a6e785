"""The scheduler at work: its projection of the stream, and the dispatcher loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import nats.errors
from loguru import logger
from nats.js.errors import NotFoundError

from libs.bus import ConsumerSettings, Delivery, EventBus, PublishError
from libs.bus.consumer import DurableBatchConsumer
from libs.compliance import CallingHours, Law
from libs.events import (
    AnyEvent,
    CallAnswered,
    CallCompleted,
    CallFailed,
    CallPlaced,
    CallRequested,
    CallsWithheld,
    Event,
    LeadImported,
    LeadOptedOut,
    OutcomeRecorded,
    every_event_of,
    subject_filter,
)
from libs.runtime.supervision import mark_running, stop_tasks, supervise
from services.scheduler.clock import Clock, SimulatedClock
from services.scheduler.config import SchedulerSettings
from services.scheduler.domain import call_deadline, decide
from services.scheduler.state import SchedulerState

DURABLE = "scheduler"
SUBJECTS = (
    subject_filter(LeadImported),
    subject_filter(LeadOptedOut),
    every_event_of("campaign"),
    *(
        subject_filter(kind)
        for kind in (
            CallRequested,
            CallPlaced,
            CallAnswered,
            CallFailed,
            CallCompleted,
            OutcomeRecorded,
        )
    ),
)
LONGEST_NAP = 5.0  # re-evaluate at least this often, whatever else happens


class SchedulerNotReadyError(RuntimeError):
    """The projection has not caught up with the stream yet."""


class Scheduler:
    """One active instance: rebuilds its state from the stream, then dispatches calls."""

    def __init__(
        self, settings: SchedulerSettings, law: Law, default_hours: CallingHours, clock: Clock
    ) -> None:
        self.settings = settings
        self.law = law
        self.clock = clock
        self.limits = settings.limits(law)
        self.rules = default_hours  # a campaign's hours and days unless it asks for others
        self.state = SchedulerState(settings.retry_policy(), self.limits.brake_window)
        self._bus: EventBus | None = None
        self._applied_sequence = 0
        self._changed = asyncio.Condition()

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            raise SchedulerNotReadyError("the scheduler is not connected to the bus yet")
        return self._bus

    @contextlib.asynccontextmanager
    async def running(self, bus: EventBus) -> AsyncIterator[Scheduler]:
        self._bus = bus
        # The state lives in memory: rebuild it from the first event at every start.
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_consumer(bus.stream, DURABLE)
        settings = ConsumerSettings(durable=DURABLE, subjects=SUBJECTS, idle_wait=0.5)
        async with DurableBatchConsumer(bus, settings, self._on_events).running():
            await self.wait_until_caught_up(timeout=300)
            logger.info(
                "Scheduler state rebuilt: {leads} leads, {campaigns} campaigns, {live} live calls",
                leads=len(self.state.leads),
                campaigns=len(self.state.campaigns),
                live=len(self.state.live_call_ids),
            )
            dispatcher = supervise("scheduler-dispatcher", self._dispatch_forever)
            try:
                yield self
            finally:
                await stop_tasks(dispatcher)

    async def _on_events(self, batch: list[tuple[AnyEvent, Delivery]]) -> None:
        for event, _ in batch:
            self.state.apply(event)
        self._applied_sequence = batch[-1][1].stream_sequence
        async with self._changed:
            self._changed.notify_all()

    async def wait_until_caught_up(self, timeout: float = 10.0) -> None:
        """Return once every event already in the stream is in the state (read your writes)."""
        try:
            async with asyncio.timeout(timeout):
                while not await self._caught_up():
                    await self._wait_for_change(0.2)
        except TimeoutError:
            raise SchedulerNotReadyError(
                f"the scheduler is still reading the stream after {timeout:.0f}s"
            ) from None

    async def _caught_up(self) -> bool:
        try:
            info = await self.bus.js.consumer_info(self.bus.stream, DURABLE)
        except NotFoundError:  # the consumer task has not created it yet
            return False
        delivered = info.delivered.stream_seq if info.delivered else 0
        return not info.num_pending and self._applied_sequence >= (delivered or 0)

    async def publish(self, events: Sequence[Event]) -> None:
        """Publish decisions, then fold them in at once (the echo from the stream is a no-op)."""
        await self.bus.publish_many(events)
        for event in events:
            self.state.apply(event)  # type: ignore[arg-type]
            self._log_decision(event)
        async with self._changed:
            self._changed.notify_all()

    async def _dispatch_forever(self) -> None:
        logger.info(
            "Dispatcher running: at most {lines} lines, {rate}/s",
            lines=self.limits.max_concurrent_calls,
            rate=self.limits.calls_per_second,
        )
        while True:
            now = self.clock()
            events = decide(self.state, now, self.limits, self._skipped_since)
            mark_running()  # a round decided: after a failure, it is dispatching again
            if events:
                try:
                    await self.publish(events)
                except (PublishError, nats.errors.Error) as exc:
                    logger.warning("Could not publish decisions, retrying: {error}", error=str(exc))
                    await self._wait_for_change(1.0)
                continue
            seconds = self._seconds_until_next_decision(now)
            if self._skip_idle_time(now, seconds):
                continue
            await self._wait_for_change(seconds)

    def _skip_idle_time(self, now: datetime, seconds: float) -> bool:
        """In simulation nobody waits for a window or a retry: jump the clock to it.

        Calls already live go on meanwhile; their time-outs discount the skipped time.
        """
        if not isinstance(self.clock, SimulatedClock):
            return False
        moment = self._next_dispatch_moment(now)
        if moment is None or moment - now < timedelta(seconds=2):
            return False
        skipped = self.clock.skip_to(moment)
        logger.info(
            "Simulated clock skipped {minutes:.0f} min ahead to {moment}",
            minutes=skipped.total_seconds() / 60,
            moment=f"{moment:%a %H:%M} UTC",
        )
        return True

    async def _wait_for_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait()

    def _seconds_until_next_decision(self, now: datetime) -> float:
        moment = self._next_decision_moment(now)
        if moment is None:
            return LONGEST_NAP
        return min(max((moment - now).total_seconds(), 0.01), LONGEST_NAP)

    def _next_dispatch_moment(self, now: datetime) -> datetime | None:
        moments = [
            max(campaign.queue[0][0], self._next_pace_slot(now))
            for campaign in self.state.campaigns.values()
            if campaign.state == "running" and campaign.queue
        ]
        return min(moments, default=None)

    def _next_decision_moment(self, now: datetime) -> datetime | None:
        moments = [
            call_deadline(self.state.calls[c], self.limits, self._skipped_since)
            for c in self.state.live_call_ids
        ]
        if (dispatch := self._next_dispatch_moment(now)) is not None:
            moments.append(dispatch)
        return min(moments, default=None)

    def _skipped_since(self, moment: datetime) -> timedelta:
        if isinstance(self.clock, SimulatedClock):
            return self.clock.skipped_since(moment)
        return timedelta(0)

    def _next_pace_slot(self, now: datetime) -> datetime:
        last = self.state.last_dispatch_at
        return now if last is None else max(now, last + self.limits.pace)

    @staticmethod
    def _log_decision(event: Event) -> None:
        if isinstance(event, CallRequested):
            with logger.contextualize(call_id=str(event.call_id), lead_id=str(event.lead_id)):
                logger.info("Requested call, attempt {attempt}", attempt=event.attempt)
        elif isinstance(event, CallFailed):
            with logger.contextualize(call_id=str(event.call_id), lead_id=str(event.lead_id)):
                logger.warning("Call timed out: {detail}", detail=event.detail)
        elif isinstance(event, CallsWithheld):
            logger.info(
                "Not calling {count} lead(s) now, rule {rule}: {detail}; again {retry}",
                count=len(event.lead_ids),
                rule=event.rule,
                detail=event.detail,
                retry=f"at {event.retry_at:%a %H:%M} UTC" if event.retry_at else "never",
                campaign_id=str(event.campaign_id),
            )
        else:
            logger.info(
                "{event} for campaign {campaign_id}",
                event=type(event).__name__,
                campaign_id=str(getattr(event, "campaign_id", "")),
            )

"""The sweeper: every answered call ends with one transcript and one outcome, however the
agent fared. When the carrier reports an answered call ended and no transcript is stored
within the grace (the process carrying it died, or no process ever took its stream), it
records the transcript so far, from the turns stored as they happened, and a fallback
outcome that says the agent was lost, so that the lead is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID

from loguru import logger

from libs.bus import ConsumerSettings, Delivery, DurableConsumer, EventBus, RetryLater
from libs.events import (
    AnswerClassified,
    AnyEvent,
    CallAnswered,
    CallCompleted,
    OutcomeRecorded,
    TranscriptFinalized,
    Turn,
    TurnRecorded,
    subject_filter,
    subject_for,
)
from libs.events.model import AnsweredBy, Event
from services.conversation import records
from services.conversation.closing import close_record
from services.conversation.config import ConversationSettings
from services.conversation.domain import who_answered
from services.conversation.live import LiveCalls

CONSUMER = ConsumerSettings(
    durable="conversation",
    subjects=(subject_filter(CallCompleted),),
    # A wait (RetryLater) is a delivery too: enough for a call this process still
    # carries to run out its time limit, a grace at a time, and for failures besides.
    max_deliveries=50,
    retry_delays=(2.0, 10.0, 30.0),
    batch_size=16,
)
# The shortest wait for a call still carried here: a grace of zero must not spin.
CARRIED_RECHECK_SECONDS = 1.0


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Sweeper:
    def __init__(
        self,
        bus: EventBus,
        settings: ConversationSettings,
        live: LiveCalls,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.live = live
        self.clock = clock  # the events' time; the grace is counted on the stream's clock

    async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
        if isinstance(event, CallCompleted):
            with logger.contextualize(call_id=str(event.call_id), lead_id=str(event.lead_id)):
                await self.sweep(event, delivery)

    async def sweep(self, completed: CallCompleted, delivery: Delivery) -> None:
        call_id = completed.call_id
        transcript = await self.bus.last_event(subject_for(TranscriptFinalized, call_id))
        if transcript is not None and await self._has(OutcomeRecorded, call_id):
            return  # closed: the usual case
        answered_by = await self._answered_by(call_id)
        if answered_by is None:
            return  # never answered: nobody to talk to, nothing to close
        grace = self.settings.outcome_grace_seconds
        if call_id in self.live:
            wait = max(grace, CARRIED_RECHECK_SECONDS)
            raise RetryLater(wait, "this process is still carrying the call")
        # From when the stream stored the CallCompleted, by the wall clock: a simulated
        # clock may run anywhere, and the stream's time is the same for every replica.
        stored_at = delivery.stored_at or _wall_clock()
        remaining = grace - (_wall_clock() - stored_at).total_seconds()
        if remaining > 0:
            raise RetryLater(remaining, "within the grace for its transcript")
        turns = await stored_turns(self.bus, call_id)
        now = self.clock()
        outcome, ended_by = records.lost_call_outcome(turns, answered_by)
        failure = None if ended_by == "fax" else "agent-lost"
        fallback = records.outcome_recorded(
            completed, outcome, "fallback", now, failure=failure, by_sweeper=True
        )
        if isinstance(transcript, TranscriptFinalized):
            # The live call stored its transcript and was lost before its outcome.
            if await self.bus.publish_if_first(fallback):
                logger.warning("Recorded a fallback outcome for a call closed without one")
            return
        closed = await close_record(
            self.bus,
            records.transcript_finalized(
                completed, turns, completed.duration_seconds, now, ended_by, by_sweeper=True
            ),
            fallback,
            retry_seconds=0,  # the consumer's redelivery is the retry
            closer="the sweeper",
        )
        if closed == "stored":
            logger.warning(
                "Recorded the call as {ended_by}: {turns} turns kept, no transcript was closed "
                "within {grace}s of its end",
                ended_by=ended_by,
                turns=len(turns),
                grace=grace,
            )

    async def _has(self, event_type: type[Event], call_id: UUID) -> bool:
        return await self.bus.last_event(subject_for(event_type, call_id)) is not None

    async def _answered_by(self, call_id: UUID) -> AnsweredBy | None:
        """Who answered, machine detection over the answer; None: it was never answered."""
        classified = await self.bus.last_event(subject_for(AnswerClassified, call_id))
        answered = await self.bus.last_event(subject_for(CallAnswered, call_id))
        facts = (
            e for e in (classified, answered) if isinstance(e, AnswerClassified | CallAnswered)
        )
        return who_answered([fact.answered_by for fact in facts])


async def stored_turns(bus: EventBus, call_id: UUID) -> list[Turn]:
    """The call's turns as stored while it ran, in the call's order, each once."""
    by_index: dict[int, Turn] = {}
    for event in await bus.events_so_far(subject_for(TurnRecorded, call_id)):
        if isinstance(event, TurnRecorded):
            by_index.setdefault(event.index, event.turn)
    return [by_index[index] for index in sorted(by_index)]


@asynccontextmanager
async def running_sweeper(sweeper: Sweeper) -> AsyncIterator[DurableConsumer]:
    consumer = DurableConsumer(sweeper.bus, CONSUMER, sweeper.handle)
    async with consumer.running():
        yield consumer

"""One live call: run its pipeline to the end, then publish the record it leaves, once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from loguru import logger
from pipecat.frames.frames import EndFrame, InterruptionFrame, TTSSpeakFrame
from pipecat.pipeline.worker import PipelineWorker
from pipecat.workers.runner import WorkerRunner

from libs.events import CallRequested, Turn, TurnRecorded
from libs.events.model import NOT_A_PERSON, AnsweredBy
from services.conversation import records
from services.conversation.calendar.on_call import CallBooker
from services.conversation.closing import close_record
from services.conversation.domain import (
    EndedBy,
    FinishedCall,
    Outcome,
    Playbook,
    agent_time_limit,
    greeting,
    lead_zone,
    silence_message,
    time_limit_message,
    voicemail_message,
)
from services.conversation.pipeline import (
    CallPipeline,
    Stream,
    build_hang_up_pipeline,
    build_pipeline,
)
from services.conversation.processors.transcript_recorder import TranscriptRecorder
from services.conversation.service import CallEnvironment
from services.conversation.tools import CallState, build_tools


class Call:
    """Runs one call to its end, then publishes its transcript and outcome exactly once."""

    def __init__(
        self,
        *,
        request: CallRequested,
        stream: Stream,
        answered_by: AnsweredBy,
        playbook: Playbook,
        env: CallEnvironment,
    ) -> None:
        self.request, self.stream, self.playbook = request, stream, playbook
        self.answered_by = answered_by
        self.env = env
        self.clock = self._call_clock()
        booker = (
            CallBooker(env.desk, request, lead_zone(request.lead), self.clock) if env.desk else None
        )
        self.state = CallState(on_opt_out=self._publish_opt_out, booker=booker)
        self.transcript = TranscriptRecorder(
            clock=env.clock, on_latency=env.load.record_latency, on_turn=self._publish_turn
        )
        self.started_at = env.clock()
        self._worker: PipelineWorker | None = None  # the pitch's, once it is built
        self._greeted = False  # the greeting was queued: a machine now needs the pitch stopped
        self._turn_publishes: set[asyncio.Task[None]] = set()

    async def run(self, websocket: object) -> None:
        worker = (
            self._fax(websocket) if self.answered_by == "fax" else self._build(websocket).worker
        )
        # Twilio cuts the call at this many seconds (telephony's TimeLimit); the agent's own
        # limit comes first, with time for its goodbye.
        twilio_limit = min(self.env.settings.call_timeout_seconds, self.request.time_limit_seconds)
        limit = agent_time_limit(twilio_limit, self.env.settings.goodbye_before_limit_seconds)
        timer = asyncio.get_running_loop().call_later(
            limit, lambda: asyncio.ensure_future(self._end_politely(worker, "timeout"))
        )
        try:
            runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
            await runner.add_workers(worker)
            with self.env.load.tracking_call():
                await runner.run()
        except Exception:
            self.state.end("error")
            logger.exception("Call pipeline failed")
            raise
        finally:
            timer.cancel()
            await self._finalize()

    def _call_clock(self) -> Callable[[], datetime]:
        """The time the call's words are judged by (a meeting's notice, a callback's day).

        Live, the real clock. In simulation the scheduler dials on a simulated working day
        while the voices run in real time: the call's time is the decision's, running on."""
        if self.env.settings.voices == "real":
            return self.env.clock
        offset = self.request.occurred_at - self.env.clock()
        return lambda: self.env.clock() + offset

    # The call's course ---------------------------------------------------------------

    def _build(self, websocket: object) -> CallPipeline:
        services = self.env.voices.services(
            agent=self.env.agent,
            lead=self.request.lead,
            playbook=self.playbook,
            stream_sid=self.stream.stream_sid,
            clock=self.clock,
        )
        tools = build_tools(
            self.state,
            follow_up=self.env.voices.follow_up,
            zone=lead_zone(self.request.lead),
            clock=self.clock,
        )
        pipeline = build_pipeline(
            websocket,
            stream=self.stream,
            services=services,
            tools=tools,
            transcript=self.transcript,
            env=self.env,
        )
        self._follow(pipeline)
        self._worker = pipeline.worker
        return pipeline

    def _follow(self, pipeline: CallPipeline) -> None:
        worker = pipeline.worker

        @pipeline.transport.event_handler("on_client_connected")
        async def opening(_transport: object, _socket: object) -> None:
            if self.answered_by == "machine":
                self.state.end("voicemail")
                text = voicemail_message(self.env.agent, self.request.lead)
                await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])
            else:
                self._greeted = True
                text = greeting(self.env.agent, self.request.lead)
                await worker.queue_frame(TTSSpeakFrame(text))

        @pipeline.transport.event_handler("on_client_disconnected")
        async def hung_up(_transport: object, _socket: object) -> None:
            if self.state.end("prospect-hung-up"):
                logger.info("The prospect hung up")
            await worker.cancel(reason="stream closed")

        @pipeline.user.event_handler("on_user_turn_idle")
        async def went_quiet(_aggregator: object) -> None:
            await self._end_politely(worker, "silence")

    def _fax(self, websocket: object) -> PipelineWorker:
        """A fax gets no pitch: the call is hung up as soon as its stream starts."""
        worker, transport = build_hang_up_pipeline(websocket, stream=self.stream)

        @transport.event_handler("on_client_connected")
        async def hang_up(_transport: object, _socket: object) -> None:
            self.state.end("fax")
            logger.info("A fax machine answered: hanging up")
            await worker.queue_frame(EndFrame(reason="fax"))

        @transport.event_handler("on_client_disconnected")
        async def gone(_transport: object, _socket: object) -> None:
            await worker.cancel(reason="stream closed")

        return worker

    async def _end_politely(self, worker: PipelineWorker, reason: EndedBy) -> None:
        if not self.state.end(reason):
            return
        logger.info("Ending the call: {reason}", reason=reason)
        goodbye = TTSSpeakFrame(time_limit_message() if reason == "timeout" else silence_message())
        goodbye.interruptible = False  # a "hello?" over the goodbye does not cut it short
        await worker.queue_frames([goodbye, EndFrame()])

    async def machine_detected(self) -> None:
        """The carrier's answering machine detection said "machine" while the call is live
        (Twilio reports it after the stream opened): the pitch becomes a voicemail."""
        if self.answered_by in NOT_A_PERSON:
            return
        self.answered_by = "machine"  # before the greeting: the opening leaves the message
        worker = self._worker
        if worker is None or not self._greeted or not self.state.end("voicemail"):
            return  # not started yet, a fax's pipeline, or already ending
        logger.info("An answering machine took the call: leaving the voicemail message")
        # The interruption stops what the agent is saying and drops its queued speech. In
        # one queue with the message and the end, so that it reaches every processor before
        # them (sent on its own, it could overtake the EndFrame and strand it). The message
        # is uninterruptible: the machine's own voice does not cut it short.
        message = TTSSpeakFrame(voicemail_message(self.env.agent, self.request.lead))
        message.interruptible = False
        await worker.queue_frames([InterruptionFrame(), message, EndFrame()])

    # The record ---------------------------------------------------------------------

    def _publish_turn(self, index: int, turn: Turn) -> None:
        """Each final turn is stored as it happens, so a crash keeps the transcript so far;
        the pipeline does not wait for the ack (a task per turn, awaited at the end)."""
        event = records.turn_recorded(self.request, index, turn, self.env.clock())
        task = asyncio.create_task(self._store_turn(event))
        self._turn_publishes.add(task)
        task.add_done_callback(self._turn_publishes.discard)

    async def _store_turn(self, event: TurnRecorded) -> None:
        try:
            await self.env.bus.publish(event)
        except Exception as exc:  # any failure is logged: the transcript still has the turn
            logger.warning(
                "Turn {index} was not stored: {error}", index=event.index, error=str(exc)
            )

    async def _publish_opt_out(self) -> None:
        await self.env.bus.publish(records.lead_opted_out(self.request, self.env.clock()))
        logger.info("Opt-out recorded")

    async def _finalize(self) -> None:
        now = self.env.clock()
        ended_by: EndedBy = self.state.ended_by or "prospect-hung-up"
        turns = self.transcript.turns
        recorded = self.state.outcome
        call = FinishedCall(
            lead=self.request.lead,
            turns=tuple(turns),
            ended_by=ended_by,
            started_at=self.started_at,
            meeting_time=self.state.meeting_time,  # only book_meeting books one
            meeting_id=self.state.meeting_id,
            calendar_trouble=self.state.calendar_trouble,
            callback_at=self.state.callback_at,
        )
        outcome, source = records.final_outcome(
            call, recorded=recorded, reading=await self._reading(call)
        )
        # The turns first: the closed transcript follows what it closes on the stream.
        await asyncio.gather(*self._turn_publishes, return_exceptions=True)
        seconds = (now - self.started_at).total_seconds()
        try:
            closed = await close_record(
                self.env.bus,
                records.transcript_finalized(self.request, turns, seconds, now, ended_by),
                records.outcome_recorded(self.request, outcome, source, now),
                retry_seconds=self.env.settings.record_retry_seconds,
                closer="the live call",
            )
        except Exception:  # given up: the sweeper records a fallback from the stored turns
            logger.exception(
                "Giving up on storing the call's transcript and outcome after {seconds}s; "
                "the sweeper will record the call as agent-lost",
                seconds=self.env.settings.record_retry_seconds,
            )
            return
        if closed == "already-closed":
            return
        logger.info(
            "Call finished ({ended_by}): {turns} turns, {interest} interest, summary by {by}",
            ended_by=ended_by,
            turns=len(turns),
            interest=outcome.interest_level,
            by=outcome.summary_written_by,
        )

    async def _reading(self, call: FinishedCall) -> Outcome | None:
        """The model's summary of the conversation, unless it already wrote one with its
        record_outcome; a call nobody spoke on has nothing to read."""
        recorded = self.state.outcome
        if not call.had_conversation or (recorded is not None and recorded.summary):
            return None
        return await self.env.voices.summarize(call)

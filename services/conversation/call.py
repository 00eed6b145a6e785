"""One live call: run its pipeline to the end, then publish the record it leaves, once."""

from __future__ import annotations

import asyncio

from loguru import logger
from pipecat.frames.frames import EndFrame, TTSSpeakFrame
from pipecat.pipeline.worker import PipelineWorker
from pipecat.workers.runner import WorkerRunner

from libs.events import CallRequested, Turn
from services.conversation import records
from services.conversation.domain import (
    EndedBy,
    Outcome,
    Playbook,
    greeting,
    silence_message,
    time_limit_message,
    voicemail_message,
)
from services.conversation.pipeline import CallPipeline, Stream, build_pipeline
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
        machine: bool,
        playbook: Playbook,
        env: CallEnvironment,
    ) -> None:
        self.request, self.stream, self.machine, self.playbook = request, stream, machine, playbook
        self.env = env
        self.state = CallState(on_opt_out=self._publish_opt_out)
        self.transcript = TranscriptRecorder(clock=env.clock, on_latency=env.load.record_latency)
        self.started_at = env.clock()

    async def run(self, websocket: object) -> None:
        pipeline = self._build(websocket)
        worker = pipeline.worker
        limit = min(self.env.settings.call_timeout_seconds, self.request.time_limit_seconds)
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

    # The call's course ---------------------------------------------------------------

    def _build(self, websocket: object) -> CallPipeline:
        services = self.env.voices.services(
            agent=self.env.agent,
            lead=self.request.lead,
            playbook=self.playbook,
            stream_sid=self.stream.stream_sid,
        )
        pipeline = build_pipeline(
            websocket,
            stream=self.stream,
            services=services,
            tools=build_tools(self.state, follow_up=self.env.voices.follow_up),
            transcript=self.transcript,
            env=self.env,
        )
        self._follow(pipeline)
        return pipeline

    def _follow(self, pipeline: CallPipeline) -> None:
        worker = pipeline.worker

        @pipeline.transport.event_handler("on_client_connected")
        async def opening(_transport: object, _socket: object) -> None:
            if self.machine:
                self.state.end("voicemail")
                text = voicemail_message(self.env.agent, self.request.lead)
                await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])
            else:
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

    async def _end_politely(self, worker: PipelineWorker, reason: EndedBy) -> None:
        if not self.state.end(reason):
            return
        logger.info("Ending the call: {reason}", reason=reason)
        text = time_limit_message() if reason == "timeout" else silence_message()
        await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])

    # The record ---------------------------------------------------------------------

    async def _publish_opt_out(self) -> None:
        await self.env.bus.publish(records.lead_opted_out(self.request, self.env.clock()))
        logger.info("Opt-out recorded")

    async def _finalize(self) -> None:
        now = self.env.clock()
        ended_by: EndedBy = self.state.ended_by or "prospect-hung-up"
        turns = self.transcript.turns
        outcome, source = await self._outcome(turns, ended_by)
        await self.env.bus.publish_many(
            [
                records.transcript_finalized(self.request, turns, self.started_at, now, ended_by),
                records.outcome_recorded(self.request, outcome, source, now),
            ]
        )
        logger.info(
            "Call finished ({ended_by}): {turns} turns, {interest} interest",
            ended_by=ended_by,
            turns=len(turns),
            interest=outcome.interest_level,
        )

    async def _outcome(self, turns: list[Turn], ended_by: EndedBy) -> tuple[Outcome, str]:
        """The tool's outcome; else the model's reading of the call; else the cue words'."""
        if self.state.outcome is not None:
            return records.with_summary(self.state.outcome, turns, ended_by), "tool"
        # Opt-outs and voicemails say all there is; a call nobody spoke on has nothing to read.
        if ended_by not in ("opt-out", "voicemail") and any(t.role == "prospect" for t in turns):
            summarised = await self.env.voices.summarize(turns)
            if summarised is not None:
                return summarised, "summary"
        return records.fallback_outcome(turns, ended_by), "fallback"

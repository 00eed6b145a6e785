"""One live call: the Pipecat pipeline on the Twilio stream, and the record it leaves.

transport in -> speech-to-text -> user aggregator (VAD, turn detection) -> LLM ->
text-to-speech -> transport out -> assistant aggregator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from loguru import logger
from pipecat.frames.frames import EndFrame, TTSSpeakFrame
from pipecat.observers.user_bot_latency_observer import UserBotLatencyObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_mute import MuteUntilFirstBotCompleteUserMuteStrategy
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from libs.bus import EventBus
from libs.events import CallRequested, Turn
from services.conversation import records
from services.conversation.config import ConversationSettings
from services.conversation.domain import (
    Agent,
    EndedBy,
    Playbook,
    greeting,
    silence_message,
    time_limit_message,
    voicemail_message,
)
from services.conversation.load import LoadMonitor
from services.conversation.models import SharedModels
from services.conversation.processors.input_audio_sink import InputAudioSink
from services.conversation.providers import Stream, build_services
from services.conversation.summary import summarize_with_model
from services.conversation.tools import CallState, build_tools

SAMPLE_RATE = 8000
OUT_CHUNKS_10MS = 8  # agent audio leaves 80 ms at a time: fewer sends, same real-time pace


class Call:
    """Runs one call to its end, then publishes its transcript and outcome exactly once."""

    def __init__(
        self,
        *,
        request: CallRequested,
        stream: Stream,
        machine: bool,
        settings: ConversationSettings,
        agent: Agent,
        playbook: Playbook,
        bus: EventBus,
        models: SharedModels,
        load: LoadMonitor,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.request, self.stream, self.machine = request, stream, machine
        self.settings, self.agent, self.playbook = settings, agent, playbook
        self.bus, self.models, self.load, self.clock = bus, models, load, clock
        self.turns: list[Turn] = []
        self.state = CallState(on_opt_out=self._publish_opt_out)
        self.started_at = clock()
        self._latencies: list[float] = []
        self._agent_started: datetime | None = None

    async def run(self, websocket: object) -> None:
        worker = self._build_worker(websocket)
        limit = min(self.settings.call_timeout_seconds, self.request.time_limit_seconds)
        timer = asyncio.get_running_loop().call_later(
            limit, lambda: asyncio.ensure_future(self._end_politely(worker, "timeout"))
        )
        try:
            runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
            await runner.add_workers(worker)
            with self.load.tracking_call():
                await runner.run()
        except Exception:
            self.state.end("error")
            logger.exception("Call pipeline failed")
            raise
        finally:
            timer.cancel()
            await self._finalize()

    # The pipeline -------------------------------------------------------------------

    def _build_worker(self, websocket: object) -> PipelineWorker:
        transport = FastAPIWebsocketTransport(
            websocket,  # type: ignore[arg-type]
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                audio_out_10ms_chunks=OUT_CHUNKS_10MS,
                serializer=self.stream.serializer,
                allowed_origins=[],
            ),
        )
        stt, llm, tts = build_services(self.settings, self.stream, self.agent, self.playbook)
        context = LLMContext(tools=build_tools(self.state, follow_up=self.stream.real_llm))
        strategies = UserTurnStrategies(
            stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=self.models.turn_analyzer())]
        )
        aggregators = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=self.models.vad_analyzer(),
                user_turn_strategies=strategies,
                user_idle_timeout=self.settings.silence_timeout_seconds,
                # The disclosure is heard in full: a "Hello?" over it does not cut it off.
                user_mute_strategies=[MuteUntilFirstBotCompleteUserMuteStrategy()],
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                stt,
                aggregators.user(),
                InputAudioSink(),
                llm,
                tts,
                self.load.frame_pacing(transport.output()),
                aggregators.assistant(),
            ]
        )
        latency = UserBotLatencyObserver()
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=SAMPLE_RATE,
                audio_out_sample_rate=SAMPLE_RATE,
                enable_metrics=False,
            ),
            enable_rtvi=False,
            enable_turn_tracking=False,
            idle_timeout_secs=None,
            observers=[latency],
        )
        self._wire_events(worker, transport, aggregators, latency)
        return worker

    def _wire_events(
        self,
        worker: PipelineWorker,
        transport: FastAPIWebsocketTransport,
        aggregators: LLMContextAggregatorPair,
        latency: UserBotLatencyObserver,
    ) -> None:
        @transport.event_handler("on_client_connected")
        async def opening(_transport: object, _socket: object) -> None:
            if self.machine:
                self.state.end("voicemail")
                text = voicemail_message(self.agent, self.request.lead)
                await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])
            else:
                await worker.queue_frame(TTSSpeakFrame(greeting(self.agent, self.request.lead)))

        @transport.event_handler("on_client_disconnected")
        async def hung_up(_transport: object, _socket: object) -> None:
            if self.state.end("prospect-hung-up"):
                logger.info("The prospect hung up")
            await worker.cancel(reason="stream closed")

        @aggregators.user().event_handler("on_user_turn_stopped")
        async def prospect_turn(_aggregator: object, _strategy: object, message: object) -> None:
            text = getattr(message, "content", None) or ""
            if text:
                started = _parse_timestamp(getattr(message, "timestamp", "")) or self.clock()
                self.turns.append(
                    Turn(role="prospect", text=text, started_at=started, ended_at=self.clock())
                )

        @aggregators.assistant().event_handler("on_assistant_turn_started")
        async def agent_started(_aggregator: object) -> None:
            self._agent_started = self.clock()

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def agent_turn(_aggregator: object, message: object) -> None:
            text = getattr(message, "content", "") or ""
            if text:
                self.turns.append(
                    Turn(
                        role="agent",
                        text=text,
                        started_at=self._agent_started or self.clock(),
                        ended_at=self.clock(),
                        response_latency_seconds=self._latencies.pop() if self._latencies else None,
                    )
                )

        @aggregators.user().event_handler("on_user_turn_idle")
        async def went_quiet(_aggregator: object) -> None:
            await self._end_politely(worker, "silence")

        @latency.event_handler("on_latency_measured")
        async def measured(_observer: object, seconds: float) -> None:
            self._latencies[:] = [round(seconds, 3)]
            self.load.record_latency(seconds)

    async def _end_politely(self, worker: PipelineWorker, reason: EndedBy) -> None:
        if not self.state.end(reason):
            return
        logger.info("Ending the call: {reason}", reason=reason)
        text = time_limit_message() if reason == "timeout" else silence_message()
        await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])

    # The record ---------------------------------------------------------------------

    async def _publish_opt_out(self) -> None:
        await self.bus.publish(records.lead_opted_out(self.request, self.clock()))
        logger.info("Opt-out recorded")

    def _worth_a_summary(self, turns: list[Turn], ended_by: EndedBy) -> bool:
        # Opt-outs and voicemails say all there is; a call nobody spoke on has nothing to read.
        return (
            self.settings.voices == "real"
            and ended_by not in ("opt-out", "voicemail")
            and any(turn.role == "prospect" for turn in turns)
        )

    async def _finalize(self) -> None:
        now = self.clock()
        ended_by: EndedBy = self.state.ended_by or "prospect-hung-up"
        turns = sorted(self.turns, key=lambda turn: turn.started_at)
        if self.state.outcome is not None:
            outcome, source = records.with_summary(self.state.outcome, turns, ended_by), "tool"
        else:
            outcome, source = records.fallback_outcome(turns, ended_by), "fallback"
            if self._worth_a_summary(turns, ended_by):
                summarised = await summarize_with_model(self.settings, turns)
                if summarised is not None:
                    outcome, source = summarised, "summary"
        await self.bus.publish_many(
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


def _parse_timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

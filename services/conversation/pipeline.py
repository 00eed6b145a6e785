"""One call's Pipecat pipeline on its Twilio media stream.

transport in -> speech-to-text -> user aggregator (VAD, turn detection) -> LLM ->
text-to-speech -> transport out -> assistant aggregator, with the transcript recorded
beside both aggregators. A call with nobody to talk to (a fax) gets the transport alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregator,
    LLMUserAggregatorParams,
)
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_mute import MuteUntilFirstBotCompleteUserMuteStrategy
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from services.conversation.processors.input_audio_sink import InputAudioSink
from services.conversation.processors.transcript_recorder import TranscriptRecorder
from services.conversation.providers import Services
from services.conversation.service import CallEnvironment

SAMPLE_RATE = 8000
OUT_CHUNKS_10MS = 8  # agent audio leaves 80 ms at a time: fewer sends, same real-time pace


@dataclass(frozen=True)
class Stream:
    """The Twilio media stream a call arrived on, and how its audio is framed."""

    stream_sid: str
    call_sid: str
    serializer: TwilioFrameSerializer


@dataclass(frozen=True)
class CallPipeline:
    """The running parts a call reacts to: the worker, its transport, the prospect's turns."""

    worker: PipelineWorker
    transport: FastAPIWebsocketTransport
    user: LLMUserAggregator


def _transport(
    websocket: object, stream: Stream, *, closing_silence_seconds: int = 2
) -> FastAPIWebsocketTransport:
    return FastAPIWebsocketTransport(
        websocket,  # type: ignore[arg-type]
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            audio_out_10ms_chunks=OUT_CHUNKS_10MS,
            # Pipecat's default: the last words are not cut off by the hang-up.
            audio_out_end_silence_secs=closing_silence_seconds,
            serializer=stream.serializer,
            allowed_origins=[],
        ),
    )


def _worker(pipeline: Pipeline) -> PipelineWorker:
    return PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=SAMPLE_RATE,
            audio_out_sample_rate=SAMPLE_RATE,
            enable_metrics=False,
        ),
        enable_rtvi=False,
        enable_turn_tracking=False,
        idle_timeout_secs=None,
    )


def build_hang_up_pipeline(
    websocket: object, *, stream: Stream
) -> tuple[PipelineWorker, FastAPIWebsocketTransport]:
    """The stream alone, for a call to end at once: no vendor is connected, nothing is
    said, and no closing silence delays the hang-up that its EndFrame makes."""
    transport = _transport(websocket, stream, closing_silence_seconds=0)
    return _worker(Pipeline([transport.input(), transport.output()])), transport


def build_pipeline(
    websocket: object,
    *,
    stream: Stream,
    services: Services,
    tools: ToolsSchema,
    transcript: TranscriptRecorder,
    env: CallEnvironment,
) -> CallPipeline:
    transport = _transport(websocket, stream)
    stt, llm, tts = services
    strategies = UserTurnStrategies(
        stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=env.models.turn_analyzer())]
    )
    aggregators = LLMContextAggregatorPair(
        LLMContext(tools=tools),
        user_params=LLMUserAggregatorParams(
            vad_analyzer=env.models.vad_analyzer(),
            user_turn_strategies=strategies,
            user_idle_timeout=env.settings.silence_timeout_seconds,
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
            transcript.prospect(),
            llm,
            tts,
            env.load.frame_pacing(transport.output()),
            aggregators.assistant(),
            transcript.agent(),
        ]
    )
    worker = _worker(pipeline)
    return CallPipeline(worker=worker, transport=transport, user=aggregators.user())

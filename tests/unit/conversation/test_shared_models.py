"""The process's shared voice-activity model hears what the stock one hears, for less."""

from __future__ import annotations

import asyncio

import numpy as np
import onnxruntime
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADState
from threadpoolctl import threadpool_info

from libs.simulation.speech import speech_samples
from services.conversation.models import SharedModels, SharedSileroVADAnalyzer

SAMPLE_RATE = 8000
CHUNK_BYTES = 640  # 40 ms of 16-bit audio, as the serializer hands it over
CHUNK_SECONDS = 0.04


class CountingSession:
    """The real ONNX session, counting how often it is asked."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self.session, self.runs = session, 0

    def run(self, *args: object, **kwargs: object) -> object:
        self.runs += 1
        return self.session.run(*args, **kwargs)


def a_call_line() -> bytes:
    """Silence, a sentence, a pause, another sentence, silence: 16-bit PCM at 8 kHz.
    The pauses are 3 s, as while the agent answers."""
    quiet = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    parts = [quiet, speech_samples("Hello, who is this calling me this morning?", seed=0)]
    parts += [quiet, speech_samples("Right, I see, and how much would that cost us?", seed=2)]
    parts += [quiet]
    return (np.concatenate(parts) * 32767).astype(np.int16).tobytes()


def states(analyzer: VADAnalyzer, audio: bytes) -> list[VADState]:
    analyzer.set_sample_rate(SAMPLE_RATE)

    async def listen() -> list[VADState]:
        chunks = range(0, len(audio), CHUNK_BYTES)
        return [await analyzer.analyze_audio(audio[i : i + CHUNK_BYTES]) for i in chunks]

    return asyncio.run(listen())


def speech_spans(states: list[VADState]) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch the analyzer calls speech."""
    spans, start = [], None
    for index, state in enumerate(states):
        if state == VADState.SPEAKING and start is None:
            start = index * CHUNK_SECONDS
        elif state == VADState.QUIET and start is not None:
            spans.append((start, index * CHUNK_SECONDS))
            start = None
    return spans


def test_the_shared_model_hears_the_speech_the_stock_one_hears_and_skips_the_silence() -> None:
    audio = a_call_line()
    stock = speech_spans(states(SileroVADAnalyzer(), audio))
    session = CountingSession(SharedModels().vad_session)
    shared = speech_spans(states(SharedSileroVADAnalyzer(session, params=None), audio))  # type: ignore[arg-type]

    assert len(stock) == len(shared) == 2  # each sentence heard once
    for (stock_start, stock_end), (start, end) in zip(stock, shared, strict=True):
        assert abs(start - stock_start) <= CHUNK_SECONDS + 1e-9
        assert abs(end - stock_end) <= CHUNK_SECONDS + 1e-9
    windows = len(audio) // 512  # one model window is 256 samples of 2 bytes
    assert session.runs < 0.6 * windows


def test_the_process_does_its_matrix_work_on_one_thread() -> None:
    # A pool of BLAS workers spins between the small products of smart-turn's features.
    SharedModels()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas
    assert all(pool["num_threads"] == 1 for pool in blas)

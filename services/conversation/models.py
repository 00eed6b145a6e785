"""One ONNX session per process for Silero VAD and for smart-turn, shared by every call.

Pipecat opens both models per analyzer (per call): ~47 MB and a model load each time.
Sessions are stateless and safe to run from several threads; each call keeps its own
recurrent VAD state and audio buffers in its own analyzer.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from importlib import resources

import onnxruntime
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState
from threadpoolctl import threadpool_limits

PRE_ROLL_WINDOWS = 16  # 512 ms at 8 kHz: the quiet the model hears before speech


def _session(package: str, name: str, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = str(resources.files(package).joinpath(name))
    return onnxruntime.InferenceSession(
        path, sess_options=options, providers=["CPUExecutionProvider"]
    )


class SharedModels:
    """The process's model sessions, opened on first use, and the one thread smart-turn runs on."""

    def __init__(self) -> None:
        # numpy's BLAS starts a worker per core at the first matrix product (smart-turn's
        # mel features), and between products those workers spin: measured, close to half
        # of a call's CPU, for arrays too small to share out. One thread does it all.
        threadpool_limits(limits=1, user_api="blas")

    @cached_property
    def vad_session(self) -> onnxruntime.InferenceSession:
        return _session("pipecat.audio.vad.data", "silero_vad.onnx", threads=1)

    @cached_property
    def turn_session(self) -> onnxruntime.InferenceSession:
        return _session("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx", threads=1)

    @cached_property
    def turn_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart-turn")

    def warm_up(self) -> None:
        """Open the sessions and import what the first call would otherwise import on the
        event loop (seconds of stutter for every live call)."""
        import aiohttp  # noqa: F401  (the serializer's hang-up request)
        import numpy as np
        from pipecat.adapters.llm.services.open_ai_adapter import OpenAILLMAdapter  # noqa: F401

        analyzer = self.turn_analyzer()
        analyzer.set_sample_rate(8000)
        analyzer._predict_endpoint(np.zeros(8000, dtype=np.float32))
        self.vad_session.run(
            None,
            {
                "input": np.zeros((1, 288), dtype=np.float32),
                "state": np.zeros((2, 1, 128), dtype=np.float32),
                "sr": np.array(8000, dtype=np.int64),
            },
        )

    def vad_analyzer(self, params: VADParams | None = None) -> VADAnalyzer:
        return SharedSileroVADAnalyzer(self.vad_session, params=params)

    def turn_analyzer(self, params: SmartTurnParams | None = None) -> BaseSmartTurn:
        return SharedSmartTurnAnalyzer(self.turn_session, self.turn_executor, params=params)

    def close(self) -> None:
        if "turn_executor" in self.__dict__:
            self.turn_executor.shutdown(wait=False)


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """Silero over a shared session, scored inline: a 256-sample window takes ~0.1 ms,
    less than handing each 20 ms frame to a thread and back.

    A window only counts as speech when the model is confident *and* the audio is loud
    enough, so while the line is too quiet to count the model is not asked at all; the
    prospect is silent for most of a call (the agent is speaking, or waiting). When the
    line turns loud, the model first hears the windows it skipped, so that its memory is
    what it would have been; speech starts and ends where the stock analyzer finds them,
    give or take one 40 ms batch (tests/unit/conversation/test_shared_models.py).
    """

    def __init__(self, session: onnxruntime.InferenceSession, params: VADParams | None) -> None:
        VADAnalyzer.__init__(self, params=params)  # skips loading a model of its own
        model = SileroOnnxModel.__new__(SileroOnnxModel)
        model.session = session
        model.sample_rates = [8000, 16000]
        model.reset_states()
        self._model = model
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._window_volume = 0.0
        self._quiet_windows: deque[bytes] = deque(maxlen=PRE_ROLL_WINDOWS)
        self._skipped = 0  # quiet windows the model has not heard yet

    async def analyze_audio(self, buffer: bytes) -> VADState:
        return self._run_analyzer(buffer)

    def voice_confidence(self, buffer: bytes) -> float:
        # The analyzer asks for the confidence first and the volume second, per window.
        self._window_volume = super()._get_smoothed_volume(buffer)
        if self._window_volume < self._params.min_volume:
            self._skipped += 1
            self._quiet_windows.append(buffer)
            return 0.0
        if self._skipped:
            # After a short dip the model hears every skipped window now, in order: exactly
            # what it would have heard. After a long silence it starts afresh on the last
            # half second of it, as Silero itself resets in a silence.
            if self._skipped > len(self._quiet_windows):
                self._model.reset_states()
                self._windows_since_reset = self._low_confidence_windows = 0
            for window in self._quiet_windows:
                super().voice_confidence(window)
            self._quiet_windows.clear()
            self._skipped = 0
        return super().voice_confidence(buffer)

    def _get_smoothed_volume(self, audio: bytes) -> float:
        return self._window_volume  # measured once, in voice_confidence


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        executor: ThreadPoolExecutor,
        params: SmartTurnParams | None,
    ) -> None:
        BaseSmartTurn.__init__(self, params=params)  # skips opening a session of its own
        self._log_data = False
        self._session = session
        self._shared_executor = executor

    @property
    def _model_executor(self) -> ThreadPoolExecutor:
        return self._shared_executor

"""The simulated prospect's voice must pass for speech with Pipecat's own VAD and turn model."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState

from libs.simulation.protocol import FRAME_BYTES, SAMPLE_RATE
from libs.simulation.speech import (
    SILENCE_FRAME,
    decode_mu_law,
    encode_mu_law,
    synthesize_utterance,
)

TAKES = 6
LINES = [
    "Busy.",
    "Stop calling me.",
    "Yes, Tuesday at ten works for me.",
    "Maybe, send me some information and I will have a look at it next week.",
]


@pytest.fixture(scope="module")
def smart_turn() -> LocalSmartTurnAnalyzerV3:
    return LocalSmartTurnAnalyzerV3()


def test_duration_follows_the_text() -> None:
    short, long = (len(synthesize_utterance(text, seed=1)) for text in (LINES[0], LINES[3]))
    assert (short / SAMPLE_RATE, long / SAMPLE_RATE) == (0.96, 2.52)


def test_the_same_seed_gives_the_same_audio_and_another_seed_differs() -> None:
    first = synthesize_utterance(LINES[1], seed=7)
    assert first == synthesize_utterance(LINES[1], seed=7)
    assert first != synthesize_utterance(LINES[1], seed=8)


def test_silence_frame_is_twenty_milliseconds_of_zero_amplitude() -> None:
    assert len(SILENCE_FRAME) == FRAME_BYTES
    assert not decode_mu_law(SILENCE_FRAME).any()


def test_mu_law_round_trip_keeps_the_signal_within_its_quantisation_step() -> None:
    samples = np.linspace(-0.99, 0.99, 4001)
    decoded = decode_mu_law(encode_mu_law(samples)) / 32768
    # mu-law steps grow with amplitude: at most 1/16 of the magnitude, plus the smallest step
    assert np.all(np.abs(decoded - samples) <= np.abs(samples) / 16 + 1e-3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("text", LINES)
async def test_silero_vad_hears_speech_then_silence(text: str, seed: int) -> None:
    vad = SileroVADAnalyzer()
    vad.set_sample_rate(SAMPLE_RATE)  # what the transport does when the pipeline starts
    window = FRAME_BYTES * 2  # one 20 ms frame of int16 audio, as the transport delivers it
    line_open = decode_mu_law(SILENCE_FRAME * 25).tobytes()  # a call is never silent-free
    audio = decode_mu_law(synthesize_utterance(text, seed)).tobytes()
    trailing = decode_mu_law(SILENCE_FRAME * 50).tobytes()
    states = []
    for stream in (line_open + audio, trailing):
        states.append(
            [
                await vad.analyze_audio(stream[i : i + window])
                for i in range(0, len(stream) - window + 1, window)
            ]
        )
    assert VADState.SPEAKING in states[0]
    assert states[1][-1] == VADState.QUIET


@pytest.mark.parametrize("text", LINES)
def test_smart_turn_judges_the_utterance_finished(
    smart_turn: LocalSmartTurnAnalyzerV3, text: str
) -> None:
    smart_turn.set_sample_rate(SAMPLE_RATE)
    # what the turn analyzer scores: 0.7 s before the speech started, then 0.2 s of pause
    before, after = (np.zeros(round(SAMPLE_RATE * s), dtype=np.float32) for s in (0.7, 0.2))
    finished = 0
    for seed in range(TAKES):
        speech = decode_mu_law(synthesize_utterance(text, seed)).astype(np.float32) / 32768
        segment = np.concatenate([before, speech, after])
        finished += smart_turn._predict_endpoint(segment)["prediction"] == 1
    # The model's verdict on one take can differ between machines (seed 1 of these lines
    # scored 0.09 on one CPU and passed on others), so most takes must pass, not each;
    # a take judged unfinished only delays the reply, by the turn model's 3 s window.
    assert finished >= TAKES - 2

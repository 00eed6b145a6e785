"""A speech-like voice for simulated callers: 8 kHz mu-law audio whose length follows the text.

Not intelligible speech, but built the way voiced speech is: a glottal pulse train (a
fundamental near 230 Hz with its harmonics) filtered by two vowel formants that glide from
syllable to syllable, short noise bursts for consonants between syllables, a syllable-rate
loudness rhythm, and a falling pitch on the last syllable as at the end of a statement.
Silero VAD hears it as voice, and the smart-turn model judges the utterance finished.
"""

from __future__ import annotations

import re

import numpy as np

from libs.simulation.protocol import FRAME_BYTES, SAMPLE_RATE

_MU_LAW_SILENCE = 0xFF  # mu-law code for zero amplitude
SILENCE_FRAME = bytes([_MU_LAW_SILENCE]) * FRAME_BYTES

# A brisk speaker: with slower syllables the turn model often hears a sentence left hanging.
_SECONDS_PER_SYLLABLE = 0.12
_MIN_SYLLABLES = 8
_PITCH_HZ = 230
_MAX_SECONDS = 12.0
_LEVEL = 0.35  # peak amplitude, full scale = 1.0
_NOISE = 0.1  # breath noise, relative to the voiced signal's peak
# (first, second) formant of a few vowels, Hz: "ee", "eh", "ah", "ih", "a" as in "cat".
# Back vowels (low second formant) are left out: alone they read to a VAD as a hum.
_VOWEL_FORMANTS = ((300, 2200), (530, 1840), (730, 1090), (400, 2000), (660, 1720))
_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)


def synthesize_utterance(text: str, seed: int) -> bytes:
    """Mu-law bytes (8 kHz, one byte a sample) of a speech-like utterance sized to `text`."""
    return encode_mu_law(speech_samples(text, seed))


def count_syllables(text: str) -> int:
    return max(len(_VOWEL_GROUPS.findall(text)), _MIN_SYLLABLES)


def speech_samples(text: str, seed: int) -> np.ndarray:
    """Float samples in [-1, 1] at 8 kHz."""
    rng = np.random.default_rng(seed)
    syllables = count_syllables(text)
    samples = round(min(syllables * _SECONDS_PER_SYLLABLE, _MAX_SECONDS) * SAMPLE_RATE)
    seconds = samples / SAMPLE_RATE
    time = np.arange(samples) / SAMPLE_RATE
    progress = time / seconds  # 0 -> 1 over the utterance

    pitch = _pitch_contour(time, progress, rng)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    first, second = _formant_tracks(samples, syllables, rng)
    voiced = np.zeros(samples)
    for harmonic in range(1, 32):
        frequency = harmonic * pitch
        gain = (
            np.exp(-(((frequency - first) / 170) ** 2))
            + 0.6 * np.exp(-(((frequency - second) / 240) ** 2))
            + 0.08
        ) / np.sqrt(harmonic)
        gain *= frequency < SAMPLE_RATE / 2 - 200  # nothing above Nyquist
        voiced += gain * np.sin(harmonic * phase)

    rhythm = _syllable_rhythm(time, syllables / seconds, rng)
    signal = voiced * rhythm + _NOISE * rng.standard_normal(samples) * rhythm
    signal /= np.max(np.abs(signal)) + 1e-9
    edges = np.minimum(1.0, np.minimum(time, seconds - time) / 0.03)  # no clicks
    return signal * edges * _LEVEL


def _pitch_contour(time: np.ndarray, progress: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    base = _PITCH_HZ * rng.uniform(0.9, 1.1)
    drift = 0.14 * base * np.sin(2 * np.pi * 0.6 * time + rng.uniform(0, 2 * np.pi))
    vibrato = 0.05 * base * np.sin(2 * np.pi * 5.0 * time)
    final_fall = 60 * np.clip((progress - 0.75) / 0.25, 0, 1)  # a statement ends lower
    return base + drift + vibrato - final_fall


def _formant_tracks(
    samples: int, syllables: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Formants that glide from one vowel target to the next, one target a syllable."""
    targets = np.array([_VOWEL_FORMANTS[i] for i in rng.integers(0, 5, syllables + 1)], float)
    positions = np.linspace(0, samples - 1, syllables + 1)
    indices = np.arange(samples)
    first = np.interp(indices, positions, targets[:, 0])
    second = np.interp(indices, positions, targets[:, 1])
    return first, second


def _syllable_rhythm(time: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    wobble = 0.15 * np.sin(2 * np.pi * 0.9 * time + rng.uniform(0, 2 * np.pi))
    return 0.25 + 0.75 * 0.5 * (1 - np.cos(2 * np.pi * rate * time + wobble))


def encode_mu_law(samples: np.ndarray) -> bytes:
    """G.711 mu-law: float samples in [-1, 1] -> one byte each."""
    bias, clip = 0x84, 32635
    linear = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int32)
    sign = np.where(linear < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(linear), clip) + bias
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def decode_mu_law(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> int16 samples."""
    codes = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)

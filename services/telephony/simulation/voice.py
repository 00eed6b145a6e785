"""The prospects' default voice: each line synthesised as 8 kHz mu-law."""

from __future__ import annotations


def simulated_voice(text: str, seed: int) -> bytes:
    # Imported on first use: the speech generator needs numpy, which a carrier given another
    # voice (tests, benchmarks) never has to load.
    from libs.simulation.speech import synthesize_utterance

    return synthesize_utterance(text, seed)

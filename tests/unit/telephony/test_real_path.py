"""A live telephony process loads nothing of the simulation, nor what only it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
LIVE = {
    "MODE": "live",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "WEBHOOK_BASE_URL": "https://calls.example.com",
}
SIMULATION_ONLY = ("services.telephony.simulation", "libs.simulation", "numpy", "websockets")
# In a fresh interpreter: this one may have loaded anything already.
PROBE = """
import json, sys
from services.telephony.plugin import build_plugin
build_plugin({environ!r})
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded_by_building(environ: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(environ=environ)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded_from(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def test_the_twilio_path_loads_no_simulation():
    assert loaded_from(modules_loaded_by_building(LIVE), SIMULATION_ONLY) == set()


@pytest.mark.parametrize("environ", [{}, {"MODE": "simulation"}])
def test_the_simulation_loads_its_voices_only_when_they_speak(environ):
    loaded = modules_loaded_by_building(environ)
    assert "services.telephony.simulation.carrier" in loaded
    assert loaded_from(loaded, ("numpy",)) == set()

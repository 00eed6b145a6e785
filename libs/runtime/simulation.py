"""Whether this process talks to the real world or to the simulated one."""

from __future__ import annotations

from collections.abc import Mapping

TWILIO_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "WEBHOOK_BASE_URL",
)


def carrier_is_simulated(environ: Mapping[str, str]) -> bool:
    """Simulated unless every Twilio variable is set, or when SIMULATION=1 says so."""
    if environ.get("SIMULATION", "").strip().lower() in ("1", "true", "yes"):
        return True
    return not all(environ.get(name) for name in TWILIO_VARIABLES)

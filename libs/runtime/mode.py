"""The deployment's mode, simulation or live: explicit, the same for every process.

Live never falls back to simulation because a variable is missing: that is a start-up
error naming every missing or malformed variable. With MODE unset a process simulates
only when no provider variable at all is set; half a configuration is refused, so a
deployment cannot place real calls on a simulated clock or give real callers simulated
voices without anyone having said so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import get_args
from urllib.parse import urlsplit
from uuid import uuid4

from loguru import logger

from libs.bus import EventBus
from libs.events import STREAM_NAME, ModeRecorded
from libs.events.model import SystemMode
from libs.runtime.settings import SettingsError

MODES: tuple[SystemMode, ...] = get_args(SystemMode)
TWILIO_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
VOICE_VARIABLES = ("DEEPGRAM_API_KEY", "GOOGLE_API_KEY", "CARTESIA_API_KEY")
PROVIDER_VARIABLES = (*TWILIO_VARIABLES, "WEBHOOK_BASE_URL", *VOICE_VARIABLES)

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# What each service needs to run live: (variable, check of its value or None).
Check = Callable[[str], str | None]


def _account_sid(value: str) -> str | None:
    return None if _ACCOUNT_SID.fullmatch(value) else "must be AC followed by 32 hex digits"


def _e164(value: str) -> str | None:
    return None if _E164.fullmatch(value) else "must be an E.164 number like +14155550100"


_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


def _callback_number(value: str) -> str | None:
    """A number a prospect can really call back: none of the 555 numbers kept for fiction."""
    number = _PHONE_PUNCTUATION.sub("", value)
    if not _E164.fullmatch(number):
        return "must be a phone number with its country code: + and up to 15 digits"
    if number.startswith("+1") and len(number) == 12:
        area, exchange, line = number[2:5], number[5:8], int(number[8:])
        # 555-0100 to 555-0199 are reserved for fiction in every area code, and area code
        # 555 is not in service: prospects calling either would reach no one.
        if area == "555" or (exchange == "555" and 100 <= line <= 199):
            return (
                f"is {value!r}, a fictional 555 number nobody can call back: "
                "set the number prospects should call"
            )
    return None


def _public_https(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        return "must be the public https:// address Twilio reaches, e.g. https://calls.example.com"
    return None


LIVE_REQUIREMENTS: dict[str, tuple[tuple[str, Check | None], ...]] = {
    "telephony": (
        ("TWILIO_ACCOUNT_SID", _account_sid),
        ("TWILIO_AUTH_TOKEN", None),
        ("TWILIO_FROM_NUMBER", _e164),
        ("WEBHOOK_BASE_URL", _public_https),
    ),
    "conversation": (
        ("DEEPGRAM_API_KEY", None),
        ("GOOGLE_API_KEY", None),
        ("CARTESIA_API_KEY", None),
        # The agent hangs up through Twilio's REST API.
        ("TWILIO_ACCOUNT_SID", _account_sid),
        ("TWILIO_AUTH_TOKEN", None),
        # Who the agent says is calling, and the number its voicemails leave: a real
        # prospect hears these, so the simulation's stand-ins are never used.
        ("AGENT_NAME", None),
        ("AGENT_COMPANY", None),
        ("CALLBACK_NUMBER", _callback_number),
    ),
}


class ModeError(SettingsError):
    """The mode is missing, unknown, or live without what live needs."""


def resolve_mode(environ: Mapping[str, str], services: Sequence[str]) -> SystemMode:
    """The process's mode, or ModeError naming every variable at fault."""
    if "SIMULATION" in environ:
        raise ModeError("SIMULATION is no longer read: set MODE=simulation (or MODE=live) instead")
    declared = environ.get("MODE", "").strip().lower()
    if not declared:
        present = [name for name in PROVIDER_VARIABLES if environ.get(name)]
        if present:
            raise ModeError(
                f"MODE is unset but {', '.join(present)} {'is' if len(present) == 1 else 'are'} "
                "set: set MODE=live to use the real providers, or MODE=simulation to ignore them"
            )
        return "simulation"
    if declared not in MODES:
        raise ModeError(f"MODE must be simulation or live, got {environ['MODE']!r}")
    if declared == "live":
        problems = live_problems(environ, services)
        if problems:
            raise ModeError("MODE=live, but " + "; ".join(problems))
        return "live"
    return "simulation"


def live_problems(environ: Mapping[str, str], services: Sequence[str]) -> list[str]:
    problems: dict[str, str] = {}
    for service in services:
        for name, check in LIVE_REQUIREMENTS.get(service, ()):
            value = environ.get(name, "")
            if not value:
                problems.setdefault(name, f"{name} is missing (needed by {service})")
            elif check is not None and (why := check(value)) is not None:
                problems.setdefault(name, f"{name} {why}")
    return list(problems.values())


class ModeMismatchError(ModeError):
    def __init__(self, recorded: ModeRecorded, mode: SystemMode, name: str) -> None:
        super().__init__(
            f"the {STREAM_NAME} stream records MODE={recorded.mode} (set by {recorded.recorded_by} "
            f"at {recorded.occurred_at:%Y-%m-%d %H:%M} UTC), but this {name} process runs "
            f"MODE={mode}: a simulated process must never feed a live one. Start it with "
            f"MODE={recorded.mode}, or give the other mode its own NATS (or DATA_DIR)"
        )
        self.recorded, self.mode = recorded, mode


async def agree_on_mode(bus: EventBus, mode: SystemMode, name: str) -> None:
    """Record the mode if this process is the first; otherwise refuse a different one."""
    claim = ModeRecorded(
        event_id=uuid4(), occurred_at=datetime.now(UTC), mode=mode, recorded_by=name
    )
    if await bus.publish_if_first(claim):
        logger.info("Recorded MODE={mode} on the {stream} stream", mode=mode, stream=bus.stream)
        return
    recorded = await bus.last_event(claim.subject)
    if not isinstance(recorded, ModeRecorded):
        raise ModeError(f"{claim.subject} holds something other than the recorded mode")
    if recorded.mode != mode:
        raise ModeMismatchError(recorded, mode, name)

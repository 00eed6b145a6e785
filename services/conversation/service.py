"""What every call in this process shares: settings, playbooks, voices, model sessions, load.

The one place that chooses between the vendors' voices and the simulated ones.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from libs.bus import EventBus
from services.conversation.admission import StreamGate
from services.conversation.calendar.desk import BookingDesk
from services.conversation.config import ConversationSettings
from services.conversation.domain import Agent, Playbook, parse_playbooks
from services.conversation.live import LiveCalls
from services.conversation.load import LoadMonitor
from services.conversation.models import SharedModels
from services.conversation.providers import VendorVoices, Voices

BUNDLED_PLAYBOOKS = Path(__file__).with_name("playbooks.toml")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallEnvironment:
    """What a call draws on from its process, whichever call it is."""

    settings: ConversationSettings
    agent: Agent
    voices: Voices
    models: SharedModels
    load: LoadMonitor
    bus: EventBus
    clock: Callable[[], datetime]
    desk: BookingDesk | None = None  # the calendar; None: the agent cannot book meetings


@dataclass
class ConversationRuntime:
    settings: ConversationSettings
    agent: Agent
    playbooks: dict[str, Playbook]
    voices: Voices
    models: SharedModels
    load: LoadMonitor
    gate: StreamGate
    clock: Callable[[], datetime] = field(default=_now)
    calls: LiveCalls = field(default_factory=LiveCalls)
    desk: BookingDesk | None = None  # set once the bus is connected (plugin.py)

    @classmethod
    def from_settings(cls, settings: ConversationSettings) -> ConversationRuntime:
        path = Path(settings.playbooks_path) if settings.playbooks_path else BUNDLED_PLAYBOOKS
        with path.open("rb") as file:
            playbooks = parse_playbooks(tomllib.load(file))
        return cls(
            settings=settings,
            agent=Agent(
                name=settings.agent_name,
                company=settings.agent_company,
                callback_number=settings.callback_number,
                records_calls=settings.record_calls,
            ),
            playbooks=playbooks,
            voices=_voices(settings),
            models=SharedModels(),
            load=LoadMonitor(
                max_live_calls=settings.max_live_calls,
                max_loop_lag_seconds=settings.max_loop_lag_seconds,
            ),
            gate=StreamGate(settings.max_open_streams),
        )

    def for_calls(self, bus: EventBus) -> CallEnvironment:
        return CallEnvironment(
            settings=self.settings,
            agent=self.agent,
            voices=self.voices,
            models=self.models,
            load=self.load,
            bus=bus,
            clock=self.clock,
            desk=self.desk,
        )


def _voices(settings: ConversationSettings) -> Voices:
    if settings.voices == "real":
        return VendorVoices(settings)
    # Imported only here: a live process never loads the simulation.
    from services.conversation.simulation.providers import SimulatedVoices

    return SimulatedVoices(settings)

"""What every call in this process shares: settings, playbooks, model sessions, load."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from services.conversation.config import ConversationSettings
from services.conversation.domain import Agent, Playbook, parse_playbooks
from services.conversation.load import LoadMonitor
from services.conversation.models import SharedModels

BUNDLED_PLAYBOOKS = Path(__file__).with_name("playbooks.toml")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConversationRuntime:
    settings: ConversationSettings
    agent: Agent
    playbooks: dict[str, Playbook]
    models: SharedModels
    load: LoadMonitor
    clock: Callable[[], datetime] = field(default=_now)

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
            ),
            playbooks=playbooks,
            models=SharedModels(),
            load=LoadMonitor(
                max_live_calls=settings.max_live_calls,
                max_loop_lag_seconds=settings.max_loop_lag_seconds,
            ),
        )

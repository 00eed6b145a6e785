"""The scheduler's sense of time, injected so that tests and simulations can set it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def offset_clock(offset: timedelta) -> Clock:
    """Real time shifted by `offset`: seconds still pass as seconds, timers still work."""

    def now() -> datetime:
        return datetime.now(UTC) + offset

    return now

"""The scheduler's sense of time, injected so that tests and simulations can set it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

# Where a simulated campaign's day starts: 17:00 UTC is 09:00-13:00 across the mainland
# US whatever the season, inside every zone's calling hours.
SIMULATED_START_UTC_HOUR = 17


def system_clock() -> datetime:
    return datetime.now(UTC)


class SimulatedClock:
    """Real time shifted to a chosen moment, which may jump ahead while no call is live,
    so that a simulated campaign's retries and later windows arrive in seconds."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)
        self._skips: list[tuple[datetime, timedelta]] = []  # (landed at, skipped)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def skip_to(self, moment: datetime) -> timedelta:
        skipped = moment - self()
        if skipped <= timedelta(0):
            return timedelta(0)
        self._offset += skipped
        self._skips.append((moment, skipped))
        return skipped

    def skipped_since(self, moment: datetime) -> timedelta:
        """Simulated time skipped after `moment`: a call live across a skip did not last it."""
        return sum((skipped for landed, skipped in self._skips if landed > moment), timedelta(0))


def next_weekday_start(today: datetime) -> datetime:
    """The next Tuesday to Thursday at the simulated start hour: a plain working day."""
    day = today.astimezone(UTC).replace(
        hour=SIMULATED_START_UTC_HOUR, minute=0, second=0, microsecond=0
    )
    day += timedelta(days=1)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day

"""When a lead may be called: the team's hours, the lead's own window, and the law's.

Every time zone a number maps to must be inside the window at once (an area code that
spans two zones is called only when it is a legal hour in both). A lead with no known
zone is never called: we cannot know what time it is where the phone rings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.events import TimeWindow

# Whatever the configuration says, no call before 08:00 or after 21:00 where it rings.
LEGAL_HOURS = TimeWindow(start=time(8), end=time(21))
WEEKDAYS = (0, 1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class CallingRules:
    hours: TimeWindow  # the team's hours, in the lead's local time
    days: tuple[int, ...] = WEEKDAYS  # Monday is 0

    def effective_window(self, best_window: TimeWindow | None) -> TimeWindow | None:
        """The team's hours, within the law's, within the lead's; None if they never meet."""
        start, end = max(self.hours.start, LEGAL_HOURS.start), min(self.hours.end, LEGAL_HOURS.end)
        if best_window is not None:
            start, end = max(start, best_window.start), min(end, best_window.end)
        return TimeWindow(start=start, end=end) if start < end else None


def _zones(names: tuple[str, ...]) -> list[ZoneInfo] | None:
    try:
        return [ZoneInfo(name) for name in names] or None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def why_not_callable(
    now: datetime, time_zones: tuple[str, ...], rules: CallingRules, best: TimeWindow | None
) -> str | None:
    """None when the lead may be called at `now`; otherwise the reason, for a person."""
    zones = _zones(time_zones)
    if zones is None:
        return "no valid time zone for this number"
    window = rules.effective_window(best)
    if window is None:
        return "its best call time does not meet the calling hours"
    for zone in zones:
        local = now.astimezone(zone)
        if local.weekday() not in rules.days:
            return f"not a calling day in {zone.key}"
        if not window.start <= local.time() < window.end:
            return f"{local:%H:%M} in {zone.key} is outside {window.start:%H:%M}-{window.end:%H:%M}"
    return None


def next_opening(
    now: datetime, time_zones: tuple[str, ...], rules: CallingRules, best: TimeWindow | None
) -> datetime | None:
    """The first moment at or after `now` when the lead may be called, within 8 days."""
    zones = _zones(time_zones)
    window = rules.effective_window(best)
    if zones is None or window is None:
        return None
    # The answer is `now` or one zone's window opening: try those moments in order.
    candidates = {now}
    for zone in zones:
        local_today = now.astimezone(zone).date()
        for offset in range(9):
            day = local_today + timedelta(days=offset)
            opening = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
            if opening >= now:
                candidates.add(opening)
    for candidate in sorted(candidates):
        if why_not_callable(candidate, time_zones, rules, best) is None:
            return candidate
    return None

"""Who meetings are booked with, and when they work: the team file, read and checked once.

A rep works some weekdays between two local times in their own zone; a meeting lasts
`meeting_minutes` and keeps `buffer_minutes` free after it; none is booked sooner than the
minimum notice or further out than the horizon. A malformed file is refused at start with
a message naming CALENDAR_TEAM_PATH and the entry at fault.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from libs.runtime.settings import SettingsError

BUNDLED_TEAM = Path(__file__).with_name("team.toml")
SETTING = "CALENDAR_TEAM_PATH"

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_REP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class RepEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    email: str = ""
    time_zone: str
    days: str = "mon-fri"
    hours: str = "09:00-17:00"
    caldav_url: str = ""  # this rep's calendar; unset: CALDAV_URL


class TeamFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    meeting_minutes: int = 30
    buffer_minutes: int = 15
    minimum_notice_minutes: int = 240
    horizon_days: int = 14
    reps: list[RepEntry]


class Rep(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # lowercase letters, digits and dashes: it names the rep's feed URL
    name: str
    email: str
    zone: ZoneInfo
    weekdays: frozenset[int]  # Monday 0
    starts: time  # local working hours
    ends: time
    caldav_url: str = ""


class Team(msgspec.Struct, frozen=True, kw_only=True):
    reps: tuple[Rep, ...]
    meeting: timedelta
    buffer: timedelta
    minimum_notice: timedelta
    horizon: timedelta

    def rep(self, rep_id: str) -> Rep | None:
        return next((rep for rep in self.reps if rep.id == rep_id), None)


def load_team(path: str = "") -> Team:
    """The team in the file at `path` (CALENDAR_TEAM_PATH), else the bundled example team."""
    source = Path(path) if path else BUNDLED_TEAM
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
        entries = msgspec.convert(raw, TeamFile)
    except OSError as exc:
        raise SettingsError(f"{SETTING}={source}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{SETTING}={source}: not TOML ({exc})") from None
    except msgspec.ValidationError as exc:
        raise SettingsError(f"{SETTING}={source}: {exc}") from None
    return team_from(entries, source)


def team_from(entries: TeamFile, source: Path = BUNDLED_TEAM) -> Team:
    def refuse(what: str) -> SettingsError:
        return SettingsError(f"{SETTING}={source}: {what}")

    if not entries.reps:
        raise refuse("no reps: list at least one under [[reps]]")
    if entries.meeting_minutes < 5 or entries.buffer_minutes < 0:
        raise refuse("meeting_minutes must be at least 5 and buffer_minutes at least 0")
    if entries.minimum_notice_minutes < 0 or entries.horizon_days < 1:
        raise refuse("minimum_notice_minutes must be at least 0 and horizon_days at least 1")
    reps = tuple(_rep(entry, refuse) for entry in entries.reps)
    seen: set[str] = set()
    for rep in reps:
        if rep.id in seen:
            raise refuse(f"rep id {rep.id!r} is listed twice")
        seen.add(rep.id)
    meeting = timedelta(minutes=entries.meeting_minutes)
    for rep in reps:
        if _minutes(rep.ends) - _minutes(rep.starts) < entries.meeting_minutes:
            raise refuse(f"rep {rep.id!r}: working hours shorter than one meeting")
    return Team(
        reps=reps,
        meeting=meeting,
        buffer=timedelta(minutes=entries.buffer_minutes),
        minimum_notice=timedelta(minutes=entries.minimum_notice_minutes),
        horizon=timedelta(days=entries.horizon_days),
    )


def _rep(entry: RepEntry, refuse: Callable[[str], SettingsError]) -> Rep:
    if not _REP_ID.match(entry.id):
        raise refuse(f"rep id {entry.id!r}: use lowercase letters, digits and dashes")
    try:
        zone = ZoneInfo(entry.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise refuse(f"rep {entry.id!r}: unknown time zone {entry.time_zone!r}") from None
    hours = _HOURS.match(entry.hours.strip())
    if hours is None:
        raise refuse(f"rep {entry.id!r}: hours {entry.hours!r} is not like 09:00-17:00")
    try:
        starts = time(int(hours[1]), int(hours[2]))
        ends = time(int(hours[3]), int(hours[4]))
    except ValueError:
        raise refuse(f"rep {entry.id!r}: hours {entry.hours!r} is not a time of day") from None
    if ends <= starts:
        raise refuse(f"rep {entry.id!r}: hours {entry.hours!r} end before they start")
    weekdays = _weekdays(entry.days)
    if weekdays is None:
        raise refuse(f"rep {entry.id!r}: days {entry.days!r} is not like mon-fri or tue,thu")
    return Rep(
        id=entry.id,
        name=entry.name,
        email=entry.email,
        zone=zone,
        weekdays=weekdays,
        starts=starts,
        ends=ends,
        caldav_url=entry.caldav_url,
    )


def _weekdays(text: str) -> frozenset[int] | None:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            return None
        start, end = _DAY_NAMES.index(first), _DAY_NAMES.index(last or first)
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    return frozenset(days) or None


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute

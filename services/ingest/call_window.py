"""A lead's best time to call, as the sales team wrote it, read as a local time window
and the weekdays it names ("Tue/Thu 2-4pm", "weekdays after 3pm")."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache

import msgspec

from libs.events.model import TimeWindow

BUSINESS_DAY_END = time(17)
BUSINESS_DAY_START = time(9)

# Day parts, most specific first: "late afternoon" must win over "afternoon".
DAY_PARTS: tuple[tuple[str, TimeWindow], ...] = (
    ("early morning", TimeWindow(start=time(8), end=time(10))),
    ("late morning", TimeWindow(start=time(10), end=time(12))),
    ("early afternoon", TimeWindow(start=time(12), end=time(14))),
    ("late afternoon", TimeWindow(start=time(15), end=time(17))),
    ("early evening", TimeWindow(start=time(17), end=time(19))),
    ("morning", TimeWindow(start=time(9), end=time(12))),
    ("lunchtime", TimeWindow(start=time(12), end=time(13))),
    ("lunch", TimeWindow(start=time(12), end=time(13))),
    ("midday", TimeWindow(start=time(11), end=time(13))),
    ("noon", TimeWindow(start=time(11, 30), end=time(12, 30))),
    ("afternoon", TimeWindow(start=time(12), end=time(17))),
    ("evening", TimeWindow(start=time(17), end=time(20))),
    ("business hours", TimeWindow(start=BUSINESS_DAY_START, end=BUSINESS_DAY_END)),
    ("office hours", TimeWindow(start=BUSINESS_DAY_START, end=BUSINESS_DAY_END)),
    ("anytime", TimeWindow(start=BUSINESS_DAY_START, end=BUSINESS_DAY_END)),
    ("any time", TimeWindow(start=BUSINESS_DAY_START, end=BUSINESS_DAY_END)),
)

_DAY_PART_PATTERNS = tuple(
    (re.compile(rf"\b{words}s?\b", re.IGNORECASE), window) for words, window in DAY_PARTS
)
_CLOCK = r"(noon|midday|\d{1,2}(?:[:.h]\d{2})?\s*(?:[ap]\.?m\.?)?)"
_RANGE = re.compile(
    _CLOCK + r"\s*(?:-|\u2013|\u2014|to|until|till|til|and)\s*" + _CLOCK, re.IGNORECASE
)
_AFTER = re.compile(r"\b(?:after|from)\s+" + _CLOCK, re.IGNORECASE)
_BEFORE = re.compile(r"\b(?:before|until|by)\s+" + _CLOCK, re.IGNORECASE)
_PARTS = re.compile(r"(noon|midday)|(\d{1,2})(?:[:.h](\d{2}))?\s*(?:([ap])\.?m\.?)?", re.IGNORECASE)


class _Clock:
    """One written time: its hour and minute, and am/pm if it said so."""

    def __init__(self, text: str) -> None:
        match = _PARTS.fullmatch(text.strip())
        if match is None:
            raise ValueError(text)
        noon, hour, minute, meridiem = match.groups()
        self.hour = 12 if noon else int(hour)
        self.minute = int(minute or 0)
        self.meridiem = "p" if noon else (meridiem or "").lower()

    def to_time(self, meridiem: str) -> time:
        hour = self.hour
        if meridiem == "p" and hour < 12:
            hour += 12
        elif meridiem == "a" and hour == 12:
            hour = 0
        return time(hour, self.minute)


def _resolve(start: _Clock, end: _Clock) -> TimeWindow | None:
    """Fill in am/pm the way people mean it: "9-11am", "11-1pm", "2-4" (2pm: nobody's
    best time to be called is 2 in the morning, so a bare 1..7 means afternoon)."""
    end_meridiem = end.meridiem or _guess(end)
    if start.meridiem:
        start_meridiem = start.meridiem
    elif start.hour == 12:
        start_meridiem = "p"
    elif end_meridiem == "p" and start.to_time("p") < end.to_time("p"):
        start_meridiem = "p"  # "2-4pm"
    else:
        start_meridiem = "a" if end_meridiem == "p" else end_meridiem  # "11-1pm", "9-11"
    try:
        window = TimeWindow(start=start.to_time(start_meridiem), end=end.to_time(end_meridiem))
    except ValueError:
        return None  # hour 25, minute 61
    return window if window.start < window.end else None


def _guess(clock: _Clock) -> str:
    if clock.hour > 12:
        return ""  # 24-hour clock
    return "p" if 1 <= clock.hour <= 7 or clock.hour == 12 else "a"


def _read_window(text: str) -> tuple[TimeWindow | None, tuple[int, int] | None]:
    """The window and the span of text it was read from (None: nothing was read)."""
    if match := _RANGE.search(text):
        window = _resolve(_Clock(match.group(1)), _Clock(match.group(2)))
        return window, match.span() if window else None
    if match := _AFTER.search(text):
        start = _Clock(match.group(1))
        evening = start.to_time(start.meridiem or _guess(start)) >= BUSINESS_DAY_END
        window = _resolve(start, _Clock("8pm" if evening else "5pm"))
        return window, match.span() if window else None
    if match := _BEFORE.search(text):
        end = _Clock(match.group(1))
        end_time = end.to_time(end.meridiem or _guess(end))
        if end_time > time(9):
            return TimeWindow(start=BUSINESS_DAY_START, end=end_time), match.span()
        return None, None
    for words, window in _DAY_PART_PATTERNS:
        if match := words.search(text):
            return window, match.span()
    return None, None


# Weekdays as the events number them: Monday 0 .. Sunday 6.
WEEKDAYS = (0, 1, 2, 3, 4)
WEEKEND = (5, 6)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_BY_PREFIX = {"mo": 0, "tu": 1, "we": 2, "th": 3, "fr": 4, "sa": 5, "su": 6}

# A day's name, abbreviated as far as it stays unambiguous ("Tu", "Th", "Thurs", "Weds"; not
# "We", a word of its own), and in the plural ("Tuesdays").
_DAY_NAME = (
    r"(?:mon(?:day)?|tu(?:e(?:s(?:day)?)?)?|wed(?:nesday)?|th(?:u(?:r(?:s(?:day)?)?)?)?"
    r"|fri(?:day)?|sat(?:urday)?|sun(?:day)?)s?"
)
# Words for several days at once. Single letters are read only in these fixed forms
# ("M-F", "MWF", "T/Th"): alone, "T" could be Tuesday or Thursday.
DAY_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    (r"week\s?days?|work\s?days?|work\s?week|business\s+days?|m\s?-\s?f", WEEKDAYS),
    (r"week\s?ends?", WEEKEND),
    (r"daily|every\s?day|any\s+day|7\s+days(?:\s+a\s+week)?|all\s+week", EVERY_DAY),
    (r"m\s?/\s?w\s?/\s?f|mwf", (0, 2, 4)),
    (r"t\s?/\s?th|tth", (1, 3)),
)
_DAY_TOKENS = re.compile(
    r"\b(?:(?P<negation>not|no|except|excluding|never|avoid)"
    rf"|(?P<first>{_DAY_NAME})\.?\s*(?:-|\u2013|\u2014|to|through|thru|till|until)\s*"
    rf"(?P<last>{_DAY_NAME})"
    + "".join(f"|(?P<group{i}>{words})" for i, (words, _) in enumerate(DAY_GROUPS))
    + rf"|(?P<day>{_DAY_NAME}))\b",
    re.IGNORECASE,
)
# What may stand between a "not" and its days, or between the days of one list.
_JOINERS = re.compile(r"(?:[\s,/&+.]|\b(?:and|or|nor|on)\b)*", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
# Words that carry no time or day of their own: left over, they are not worth a warning.
FILLER = frozenset({
    "a", "an", "the", "at", "on", "in", "of", "or", "and", "to", "from", "between", "around",
    "about", "approx", "approximately", "ish", "best", "call", "calls", "calling", "only",
    "please", "pls", "prefer", "prefers", "preferred", "preferably", "ideally", "usually",
    "generally", "typically", "good", "works", "fine", "ok", "okay", "time", "times", "day",
    "days", "each", "every", "any", "all", "is", "are", "but", "also", "o", "clock", "oclock",
})  # fmt: skip


def _day(name: str) -> int:
    return _DAY_BY_PREFIX[name[:2].casefold()]


def _days_of(match: re.Match[str]) -> tuple[int, ...]:
    if first := match.group("first"):
        start, end = _day(first), _day(match.group("last"))
        return tuple((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    if day := match.group("day"):
        return (_day(day),)
    return next(
        days for i, (_, days) in enumerate(DAY_GROUPS) if match.group(f"group{i}") is not None
    )


def _read_days(text: str) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
    """The weekdays the text names, and the spans they were read from.

    "not"/"except" takes away the days right after it ("weekdays except Monday", "not
    Fridays": every day but Friday), so a day someone asked not to be called on is never
    read as the day to call.
    """
    named: set[int] = set()
    excluded: set[int] = set()
    spans: list[tuple[int, int]] = []
    negation: tuple[int, int] | None = None  # a "not" waiting for its days
    excluding = False
    last_end = 0
    for match in _DAY_TOKENS.finditer(text):
        if match.group("negation"):
            negation, excluding = match.span(), False
            continue
        if negation is not None and _JOINERS.fullmatch(text, negation[1], match.start()):
            spans.append(negation)
            excluding = True
        elif excluding and not _JOINERS.fullmatch(text, last_end, match.start()):
            excluding = False  # the list after "not" has ended
        negation = None
        (excluded if excluding else named).update(_days_of(match))
        spans.append(match.span())
        last_end = match.end()
    if not spans:
        return (), []
    days = (named or set(EVERY_DAY)) - excluded if excluded else named
    if not days:
        return (), []  # "not weekdays or weekends": nothing is left, so nothing was read
    return tuple(sorted(days)), spans


class BestCallTime(msgspec.Struct, frozen=True, kw_only=True):
    """What a best_call_time says: a local window, weekdays, and the words not understood."""

    window: TimeWindow | None = None
    days: tuple[int, ...] = ()  # Monday 0; empty: no day named
    unread: tuple[str, ...] = ()

    @property
    def understood(self) -> bool:
        return self.window is not None or bool(self.days)

    def describe(self) -> str:
        """As read, for the person who wrote it: "14:00-16:00 on Tue, Thu"."""
        hours = f"{self.window.start:%H:%M}-{self.window.end:%H:%M}" if self.window else ""
        days = ", ".join(DAY_ABBREVIATIONS[day] for day in self.days)
        if hours and days:
            return f"{hours} on {days}"
        return hours or days or "nothing"


@lru_cache(maxsize=4096)  # "9am-11am" and "afternoons" come back row after row
def read_best_call_time(text: str) -> BestCallTime:
    """The window and days the text names, and every word that was not understood, so
    that nothing written is silently dropped."""
    cleaned = text.strip()
    if not cleaned:
        return BestCallTime()
    window, window_span = _read_window(cleaned)
    days, spans = _read_days(cleaned)
    rest = list(cleaned)
    for start, end in [*spans, *([window_span] if window_span else [])]:
        rest[start:end] = " " * (end - start)
    unread = tuple(word for word in _WORD.findall("".join(rest)) if word.casefold() not in FILLER)
    return BestCallTime(window=window, days=days, unread=unread)


def parse_call_window(text: str) -> TimeWindow | None:
    """The local window the text names, or None when it names none we can read."""
    return read_best_call_time(text).window

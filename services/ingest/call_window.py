"""A lead's best time to call, as the sales team wrote it, read as a local time window."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache

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


@lru_cache(maxsize=4096)  # "9am-11am" and "afternoons" come back row after row
def parse_call_window(text: str) -> TimeWindow | None:
    """The local window the text names, or None when it names none we can read."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if match := _RANGE.search(cleaned):
        return _resolve(_Clock(match.group(1)), _Clock(match.group(2)))
    if match := _AFTER.search(cleaned):
        start = _Clock(match.group(1))
        evening = start.to_time(start.meridiem or _guess(start)) >= BUSINESS_DAY_END
        return _resolve(start, _Clock("8pm" if evening else "5pm"))
    if match := _BEFORE.search(cleaned):
        end = _Clock(match.group(1))
        end_time = end.to_time(end.meridiem or _guess(end))
        return TimeWindow(start=BUSINESS_DAY_START, end=end_time) if end_time > time(9) else None
    for words, window in _DAY_PART_PATTERNS:
        if words.search(cleaned):
            return window
    return None

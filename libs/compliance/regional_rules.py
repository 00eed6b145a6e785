"""Calling rules by region, as data: hours per weekday and a cap on calls per 24 hours.

The rules ship as `calling_rules.csv` beside this module, one row per region and set of
weekdays, each citing its source. A team may point CALLING_RULES_PATH at its own file of
the same shape; a file that cannot be read stops the process at start, naming the line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import time

from libs.events import TimeWindow

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COLUMNS = ("region", "days", "hours", "max_calls_per_24h", "state_holidays", "source", "note")


class RulesFileError(ValueError):
    """A rules or holiday file that cannot be used; says which file, which line, and why."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path, self.line, self.problem = path, line, problem


def region_binds(region: str, candidate: str) -> bool:
    """Whether a rule (or holiday) of `region` binds a number that may be in `candidate`.

    A country's rule binds each of its states; a number placed only in its country (state
    unknown) may be in any state, so every state's rule binds it too.
    """
    return (
        candidate == region
        or candidate.startswith(f"{region}-")
        or ("-" not in candidate and region.startswith(f"{candidate}-"))
    )


@dataclass(frozen=True, slots=True)
class RegionalRule:
    region: str  # "US-FL", or a country code such as "CA" for all of it
    days: frozenset[int]  # Monday is 0
    hours: TimeWindow
    max_calls_per_24h: int | None
    state_holidays: bool
    source: str

    def applies_to(self, candidate: str) -> bool:
        return region_binds(self.region, candidate)

    def describe(self) -> str:
        return f"{self.region}: {self.source}"


@dataclass(frozen=True, slots=True)
class RegionalRules:
    rules: tuple[RegionalRule, ...] = ()

    def binding(self, candidates: tuple[str, ...]) -> tuple[RegionalRule, ...]:
        return tuple(rule for rule in self.rules if any(rule.applies_to(c) for c in candidates))


def parse_rules(text: str, path: str) -> RegionalRules:
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise RulesFileError(path, 1, "the file has no header row")
    header_line, header = lines[0]
    columns = tuple(cell.strip() for cell in next(csv.reader([header])))
    if columns != COLUMNS:
        raise RulesFileError(
            path, header_line, f"the header must be {','.join(COLUMNS)}, got {header.strip()!r}"
        )
    rules = []
    for number, line in lines[1:]:
        cells = [cell.strip() for cell in next(csv.reader(io.StringIO(line)))]
        if len(cells) != len(COLUMNS):
            raise RulesFileError(
                path,
                number,
                f"expected {len(COLUMNS)} cells ({','.join(COLUMNS)}), got {len(cells)}",
            )
        try:
            rules.append(_rule(dict(zip(COLUMNS, cells, strict=True))))
        except ValueError as exc:
            raise RulesFileError(path, number, str(exc)) from None
    return RegionalRules(tuple(rules))


def _rule(row: dict[str, str]) -> RegionalRule:
    region = row["region"].upper()
    parts = region.split("-")
    if not (1 <= len(parts) <= 2 and all(p.isascii() and p.isalnum() for p in parts)):
        raise ValueError(f"region {row['region']!r} must look like US-FL or CA")
    if not row["source"]:
        raise ValueError("source is empty: every rule must cite its statute")
    cap = row["max_calls_per_24h"]
    if cap and not (cap.isdigit() and int(cap) > 0):
        raise ValueError(f"max_calls_per_24h {cap!r} must be a positive whole number or blank")
    if row["state_holidays"].lower() not in ("", "yes", "no"):
        raise ValueError(f"state_holidays {row['state_holidays']!r} must be yes, no or blank")
    return RegionalRule(
        region=region,
        days=parse_days(row["days"]),
        hours=parse_hours(row["hours"]),
        max_calls_per_24h=int(cap) if cap else None,
        state_holidays=row["state_holidays"].lower() == "yes",
        source=row["source"],
    )


def parse_days(text: str) -> frozenset[int]:
    """ "mon-fri", "sat,sun", "mon-sun", "tue": the weekdays, Monday 0."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        first, _, last = part.partition("-")
        if first[:3] not in DAY_NAMES or (last and last[:3] not in DAY_NAMES):
            raise ValueError(f"days {text!r} must be day names like mon-fri or sat,sun")
        start, end = DAY_NAMES.index(first[:3]), DAY_NAMES.index((last or first)[:3])
        if end < start:
            raise ValueError(f"days {text!r}: {part} runs backwards")
        days.update(range(start, end + 1))
    return frozenset(days)


def parse_hours(text: str) -> TimeWindow:
    """ "08:00-20:00": start inclusive, end exclusive."""
    start, _, end = text.partition("-")
    try:
        window = TimeWindow(
            start=time.fromisoformat(start.strip()), end=time.fromisoformat(end.strip())
        )
    except ValueError:
        raise ValueError(f"hours {text!r} must look like 08:00-20:00") from None
    if window.start >= window.end:
        raise ValueError(f"hours {text!r}: the start must be before the end")
    return window

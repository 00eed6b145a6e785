"""Days with no calls: public holidays, nationwide or in one state, in the callee's date."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from libs.compliance.regional_rules import RulesFileError

HOLIDAY_COLUMNS = ("date", "name", "region")
EVERYWHERE = ""  # the region of a day off for every number, whatever its country


@dataclass(frozen=True, slots=True)
class Holiday:
    day: date
    name: str
    region: str = EVERYWHERE  # "US", "US-AL", or EVERYWHERE


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    by_region: Mapping[str, Mapping[date, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, holidays: Iterable[Holiday]) -> HolidayCalendar:
        by_region: dict[str, dict[date, str]] = {}
        for holiday in holidays:
            by_region.setdefault(holiday.region, {}).setdefault(holiday.day, holiday.name)
        return cls(by_region)

    def holiday_on(self, day: date, candidates: Iterable[str]) -> Holiday | None:
        """The holiday that closes `day` for a number that may be in any of `candidates`.

        A state's holiday binds a number of that state, and one whose state is unknown.
        """
        for region, days in self.by_region.items():
            if day in days and _binds(region, candidates):
                return Holiday(day, days[day], region)
        return None


def _binds(region: str, candidates: Iterable[str]) -> bool:
    if region == EVERYWHERE:
        return True
    return any(
        c == region or c.startswith(f"{region}-") or ("-" not in c and region.startswith(f"{c}-"))
        for c in candidates
    )


def parse_holidays(text: str, path: str) -> list[Holiday]:
    """A CSV of date,name,region (region blank: every number); `#` lines are comments."""
    rows = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        return []
    header_line, header = rows[0]
    columns = tuple(cell.strip().lower() for cell in next(csv.reader([header])))
    if columns[:2] != HOLIDAY_COLUMNS[:2] or columns not in (HOLIDAY_COLUMNS[:2], HOLIDAY_COLUMNS):
        raise RulesFileError(
            path, header_line, f"the header must be {','.join(HOLIDAY_COLUMNS)}, got {header!r}"
        )
    holidays = []
    for number, line in rows[1:]:
        cells = [cell.strip() for cell in next(csv.reader(io.StringIO(line)))]
        if len(cells) not in (2, 3):
            raise RulesFileError(path, number, f"expected date,name[,region], got {line!r}")
        try:
            day = date.fromisoformat(cells[0])
        except ValueError:
            raise RulesFileError(
                path, number, f"date {cells[0]!r} must look like 2026-12-25"
            ) from None
        region = cells[2].upper() if len(cells) == 3 else EVERYWHERE
        holidays.append(Holiday(day, cells[1] or "holiday", region))
    return holidays

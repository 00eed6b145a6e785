"""The law a process keeps, read once at start: the rules file, holidays, the team's cap.

A file that cannot be used stops the process, naming the file, the line and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import holidays as public_holidays
import msgspec

from libs.compliance.holiday_calendar import Holiday, HolidayCalendar, parse_holidays
from libs.compliance.regional_rules import (
    RegionalRules,
    RulesFileError,
    parse_days,
    parse_hours,
    parse_rules,
)
from libs.compliance.rules import CallingHours, Law
from libs.runtime.settings import SettingsError, load_settings

BUNDLED_RULES = Path(__file__).with_name("calling_rules.csv")


class ComplianceSettings(msgspec.Struct, frozen=True, kw_only=True, rename="upper"):
    calling_rules_path: str = ""  # unset: the bundled calling_rules.csv
    holidays_path: str = ""  # a CSV of date,name[,region]: days with no calls
    us_federal_holidays: bool = True  # no calls on US federal holidays to US numbers
    max_calls_per_number_per_day: int = 3  # across campaigns; 0: only the regions' caps
    request_expiry_seconds: int = 30  # a decision older than this is not dialled
    call_hours_start: str = "09:00"
    call_hours_end: str = "17:00"
    calling_days: str = "mon,tue,wed,thu,fri"


def load_default_hours(environ: Mapping[str, str]) -> CallingHours:
    """The team's hours and days (CALL_HOURS_START/END, CALLING_DAYS): a campaign's default."""
    settings = load_settings(ComplianceSettings, environ)
    try:
        return CallingHours(
            hours=parse_hours(f"{settings.call_hours_start}-{settings.call_hours_end}"),
            days=tuple(sorted(parse_days(settings.calling_days))),
        )
    except ValueError as exc:
        raise SettingsError(f"invalid configuration: CALL_HOURS_*/CALLING_DAYS: {exc}") from None


def load_law(environ: Mapping[str, str], today: date | None = None) -> Law:
    settings = load_settings(ComplianceSettings, environ)
    if settings.max_calls_per_number_per_day < 0 or settings.request_expiry_seconds <= 0:
        raise SettingsError(
            "invalid configuration: MAX_CALLS_PER_NUMBER_PER_DAY must be 0 or more and "
            "REQUEST_EXPIRY_SECONDS positive"
        )
    try:
        return _law(settings, today or datetime.now(UTC).date())
    except RulesFileError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None


def _law(settings: ComplianceSettings, today: date) -> Law:
    regional = read_rules(Path(settings.calling_rules_path or BUNDLED_RULES))
    # A process may run for months: cover last year (late events) to two years ahead.
    years = range(today.year - 1, today.year + 3)
    days: list[Holiday] = []
    if settings.us_federal_holidays:
        days += [Holiday(day, name, "US") for day, name in public_holidays.US(years=years).items()]
    for rule in regional.rules:
        if rule.state_holidays and "-" in rule.region:
            country, subdivision = rule.region.split("-")
            calendar = public_holidays.country_holidays(country, subdiv=subdivision, years=years)
            days += [Holiday(day, name, rule.region) for day, name in calendar.items()]
    if settings.holidays_path:
        days += read_holidays(Path(settings.holidays_path))
    return Law(
        regional=regional,
        holidays=HolidayCalendar.of(days),
        max_calls_per_24h=settings.max_calls_per_number_per_day or None,
        max_decision_age=timedelta(seconds=settings.request_expiry_seconds),
    )


def read_rules(path: Path) -> RegionalRules:
    return parse_rules(_read(path, "CALLING_RULES_PATH"), str(path))


def read_holidays(path: Path) -> list[Holiday]:
    return parse_holidays(_read(path, "HOLIDAYS_PATH"), str(path))


def _read(path: Path, variable: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(str(path), 0, f"cannot be read ({variable}): {exc}") from None

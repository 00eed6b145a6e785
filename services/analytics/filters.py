"""Report filters from query parameters: pure parsing, errors that name the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import msgspec

from services.analytics.domain import NOT_DIALLED, known_call_results
from services.analytics.results_contract import CALL_STATUSES
from services.analytics.rows import naive_utc


class InvalidFilterError(ValueError):
    """A report filter that cannot be applied; names the query parameter at fault."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter, self.reason = parameter, reason


class Period(msgspec.Struct, frozen=True, kw_only=True):
    """Calls made from `start` (inclusive) until `end` (exclusive), both naive UTC."""

    start: datetime | None = None
    end: datetime | None = None


def parse_moment(parameter: str, text: str, *, end_of_day: bool) -> datetime:
    """An ISO date or date-time; a bare date as an end includes that whole day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), tzinfo=UTC)
            return naive_utc(moment + timedelta(days=1) if end_of_day else moment)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilterError(
            parameter, f"{text!r} is not an ISO date (2026-03-31) or date-time"
        ) from None
    return naive_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def parse_period(start: str | None, end: str | None) -> Period:
    period = Period(
        start=parse_moment("from", start, end_of_day=False) if start else None,
        end=parse_moment("to", end, end_of_day=True) if end else None,
    )
    if period.start and period.end and period.start >= period.end:
        raise InvalidFilterError("to", f"{end!r} is not after from={start!r}")
    return period


# A page of calls: enough for a screen, small enough that a page is one quick query.
PAGE_LIMITS = (1, 500)
DEFAULT_PAGE = 50


def parse_count(parameter: str, text: str, low: int, high: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise InvalidFilterError(parameter, f"{text!r} is not a whole number {bounds}")
    return value


def parse_page(limit: str, offset: str) -> tuple[int, int]:
    return (
        parse_count("limit", limit, *PAGE_LIMITS),
        parse_count("offset", offset, 0, None),
    )


def parse_call_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise InvalidFilterError("call_id", f"{text!r} is not a call id (a UUID)") from None


def parse_call_status(text: str | None) -> str | None:
    """A call_status or call_result value, or `not-dialled` for every rule's refusals."""
    if text is None:
        return None
    known = tuple(dict.fromkeys((*CALL_STATUSES, *known_call_results(), NOT_DIALLED)))
    if text not in known:
        raise InvalidFilterError(
            "status", f"{text!r} is not a call_status or call_result: one of {', '.join(known)}"
        )
    return text

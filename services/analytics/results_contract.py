"""The original system's results file, as the people who read it rely on it.

Its fourteen columns come first, in its order, and each holds only the values it defined;
anything we add comes after them. `contract_violations` checks a results CSV against that
and names every departure, so the same check can run on a download, on the file analytics
keeps, or on the file a demonstration leaves behind.

Standard library only: anything that has a CSV can be checked, without the service.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

ORIGINAL_COLUMNS = (
    "business_name",
    "contact_number",
    "contact_name",
    "business_type",
    "company_size",
    "current_challenges",
    "best_call_time",
    "status",
    "call_status",
    "call_date",
    "conversation_summary",
    "interest_level",
    "scheduled_meeting",
    "next_steps",
)

# The values the original defined; empty means the lead was never called.
CALL_STATUSES = ("answered", "failed", "timeout")
INTEREST_LEVELS = ("high", "medium", "low")
MEETING_VALUES = ("true", "false")

# E.164 allows at most 15 digits; fewer than 8 is no callable number anywhere we dial.
E164_DIGITS = (8, 15)


def is_e164(text: str) -> bool:
    """Exactly `+` and 8-15 ASCII digits: nothing a spreadsheet could run as a formula."""
    digits = text[1:]
    return (
        text.startswith("+")
        and E164_DIGITS[0] <= len(digits) <= E164_DIGITS[1]
        and digits.isascii()
        and digits.isdigit()
    )


def is_iso_moment(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _one_of(values: tuple[str, ...]) -> str:
    return f"one of {', '.join(values)} or empty"


# Each checked column: the test a cell must pass, and what it should have been.
CELL_RULES = {
    "contact_number": (is_e164, "an E.164 number (+ and 8-15 digits, no quote)"),
    "call_status": (lambda cell: cell in ("", *CALL_STATUSES), _one_of(CALL_STATUSES)),
    "call_date": (lambda cell: cell == "" or is_iso_moment(cell), "an ISO date-time or empty"),
    "interest_level": (lambda cell: cell in ("", *INTEREST_LEVELS), _one_of(INTEREST_LEVELS)),
    "scheduled_meeting": (lambda cell: cell in ("", *MEETING_VALUES), _one_of(MEETING_VALUES)),
}


def contract_violations(text: str, *, limit: int = 50) -> list[str]:
    """Every way a results CSV departs from the original definition (at most `limit`);
    an empty list when it keeps to it. Rows are numbered as a spreadsheet shows them."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        return ["the file is empty: no header row"]
    problems: list[str] = []
    if tuple(header[: len(ORIGINAL_COLUMNS)]) != ORIGINAL_COLUMNS:
        problems.append(
            f"the first {len(ORIGINAL_COLUMNS)} columns are {header[: len(ORIGINAL_COLUMNS)]}, "
            f"not {list(ORIGINAL_COLUMNS)}"
        )
        return problems  # cells cannot be read by column when the columns are wrong
    positions = {column: header.index(column) for column in CELL_RULES}
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            problems.append(f"row {line}: {len(row)} cells under {len(header)} columns")
            continue
        for column, (valid, expected) in CELL_RULES.items():
            cell = row[positions[column]]
            if not valid(cell):
                problems.append(f"row {line} {column}: {cell!r} is not {expected}")
        if len(problems) >= limit:
            return problems[:limit]
    return problems

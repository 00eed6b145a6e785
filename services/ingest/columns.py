"""The CSV's columns: the original system's names, matched forgivingly, and the extras."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

REQUIRED_COLUMNS: tuple[str, ...] = (
    "business_name",
    "contact_number",
    "contact_name",
    "business_type",
    "company_size",
    "current_challenges",
    "best_call_time",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("status",)
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_IGNORED = re.compile(r"[\s_\-]+")


def column_key(header: str) -> str:
    """ "Business Name", "business_name" and " BUSINESS NAME " are one column."""
    return _IGNORED.sub("", header.strip().casefold())


_KNOWN_BY_KEY = {column_key(name): name for name in KNOWN_COLUMNS}


class MissingColumnsError(ValueError):
    def __init__(self, missing: Sequence[str], found: Sequence[str]) -> None:
        shown = ", ".join(repr(header) for header in found) or "none"
        super().__init__(
            f"missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
            f"(the header row has: {shown})"
        )
        self.missing, self.found = tuple(missing), tuple(found)


class DuplicateColumnError(ValueError):
    def __init__(self, column: str, positions: Sequence[int]) -> None:
        where = " and ".join(str(position) for position in positions)
        super().__init__(f"the column {column} appears more than once (columns {where})")
        self.column, self.positions = column, tuple(positions)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Where each known column sits in a row, and the extra columns kept as attributes."""

    known: dict[str, int]
    extras: tuple[tuple[str, int], ...]
    width: int

    @classmethod
    def from_header(cls, header: Sequence[str]) -> ColumnMap:
        known: dict[str, int] = {}
        extras: list[tuple[str, int]] = []
        for position, raw in enumerate(header):
            name = _KNOWN_BY_KEY.get(column_key(raw))
            if name is None:
                if raw.strip():
                    extras.append((raw.strip(), position))
            elif name in known:
                raise DuplicateColumnError(name, (known[name] + 1, position + 1))
            else:
                known[name] = position
        missing = [name for name in REQUIRED_COLUMNS if name not in known]
        if missing:
            raise MissingColumnsError(missing, [h.strip() for h in header if h.strip()])
        return cls(known=known, extras=tuple(extras), width=len(header))


def known_column_count(header: Sequence[str]) -> int:
    """How many known columns a header names: picks the delimiter that reads it best."""
    return len({_KNOWN_BY_KEY[key] for h in header if (key := column_key(h)) in _KNOWN_BY_KEY})

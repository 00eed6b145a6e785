"""What an import did, for the person who uploaded the file."""

from __future__ import annotations

import msgspec

from services.ingest.domain import RowIssue
from services.ingest.registry import Classification

MAX_REPORTED_ISSUES = 1000  # beyond this only the counts grow: a report must stay readable


class ImportCounts(msgspec.Struct, kw_only=True):
    received: int = 0  # data rows read (blank lines are not rows)
    imported: int = 0  # new leads
    updated: int = 0  # known leads whose details changed: imported again
    duplicate: int = 0  # leads already imported with these details, or repeated in the file
    rejected: int = 0  # rows that are not a valid lead
    warnings: int = 0  # rows imported with something kept as written


class ImportReport(msgspec.Struct, kw_only=True):
    source: str
    counts: ImportCounts = msgspec.field(default_factory=ImportCounts)
    issues: list[RowIssue] = msgspec.field(default_factory=list)
    issues_not_shown: int = 0
    strict: bool = False
    complete: bool = False  # every valid row was stored, or (strict) none was
    refused: bool = False  # strict, and some row was invalid: nothing was imported
    note: str = ""

    def add_issues(self, issues: list[RowIssue]) -> None:
        room = MAX_REPORTED_ISSUES - len(self.issues)
        self.issues.extend(issues[:room])
        self.issues_not_shown += max(len(issues) - room, 0)

    def count(self, classification: Classification) -> None:
        counts = self.counts
        if classification == "new":
            counts.imported += 1
        elif classification == "updated":
            counts.updated += 1
        else:
            counts.duplicate += 1

    def uncount(self, classification: Classification) -> None:
        """An event that was not stored after all."""
        if classification == "new":
            self.counts.imported -= 1
        elif classification == "updated":
            self.counts.updated -= 1

    def stored_as_duplicate(self, classification: Classification) -> None:
        """JetStream already had the event (another upload got there first)."""
        if classification == "new":
            self.counts.imported -= 1
        elif classification == "updated":
            self.counts.updated -= 1
        self.counts.duplicate += 1

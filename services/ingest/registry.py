"""The leads ingest knows are on the stream: its own projection of LeadImported.

Kept small on purpose (two ints per lead), since it holds every lead ever imported:
the lead id, and the id of its latest LeadImported event packed with the number of the
import that last touched it, so a number repeated within one file is seen as such.
"""

from __future__ import annotations

import itertools
from typing import Literal
from uuid import UUID

Classification = Literal["new", "updated", "duplicate", "repeated"]

_IMPORT_BITS = 32
_IMPORT_MASK = (1 << _IMPORT_BITS) - 1
FROM_STREAM = 0  # the import number of what the projection read from the stream


class LeadRegistry:
    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._imports = itertools.count(1)

    def __len__(self) -> int:
        return len(self._latest)

    def next_import(self) -> int:
        """A number for one import, so its own repeated rows can be told apart."""
        return next(self._imports) & _IMPORT_MASK or next(self._imports)

    def observe(self, lead_key: int, event_key: int) -> None:
        """A LeadImported read from the stream (ids as their `.int`: the projection reads
        every event back, and building UUIDs would be most of its cost)."""
        previous = self._latest.get(lead_key)
        if previous is None or previous >> _IMPORT_BITS != event_key:
            self._latest[lead_key] = event_key << _IMPORT_BITS | FROM_STREAM

    def classify(self, lead_id: UUID, event_id: UUID, import_number: int) -> Classification:
        """What a row means to the system, and remember it as the lead's latest."""
        key = lead_id.int
        previous = self._latest.get(key)
        if previous is not None and previous & _IMPORT_MASK == import_number:
            return "repeated"  # an earlier row of this same import has this number
        self._latest[key] = event_id.int << _IMPORT_BITS | import_number
        if previous is None:
            return "new"
        return "duplicate" if previous >> _IMPORT_BITS == event_id.int else "updated"

    def snapshot(self, lead_id: UUID) -> int | None:
        return self._latest.get(lead_id.int)

    def restore(self, lead_id: UUID, snapshot: int | None) -> None:
        """Undo `classify` for an event that was not stored, so a retry publishes it."""
        if snapshot is None:
            self._latest.pop(lead_id.int, None)
        else:
            self._latest[lead_id.int] = snapshot

    def knows(self, lead_id: UUID) -> bool:
        return lead_id.int in self._latest

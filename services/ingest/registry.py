"""The leads ingest knows are on the stream: its own projection of LeadImported.

It holds every lead ever imported, so it is kept small: 20 bytes a lead in sorted arrays
(a 64-bit key of the lead id, 64 bits of its latest event id, and the number of the import
that last touched it, so a number repeated within one file is seen as such), plus a
dictionary of recent changes merged into the arrays now and then. 64 bits of a uuid5 make
a collision between two of a few million leads about as likely as a cosmic-ray bit flip.
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_left
from typing import Literal
from uuid import UUID

Classification = Literal["new", "updated", "duplicate", "repeated"]

_IMPORT_BITS = 32
_IMPORT_MASK = (1 << _IMPORT_BITS) - 1
_KEY_MASK = (1 << 64) - 1
FROM_STREAM = 0  # the import number of what the projection read from the stream
_FORGOTTEN = -1  # in the recent changes: the lead is not known after all


def _key(id_int: int) -> int:
    return id_int & _KEY_MASK


class LeadRegistry:
    def __init__(self, merge_at: int = 4096) -> None:
        self._keys = array("Q")  # sorted
        self._events = array("Q")
        self._imports = array("L")
        self._recent: dict[int, int] = {}  # key -> event << 32 | import, or _FORGOTTEN
        self._size = 0
        self._merge_at = merge_at
        self._imports_counter = itertools.count(1)

    def __len__(self) -> int:
        return self._size

    def next_import(self) -> int:
        """A number for one import, so its own repeated rows can be told apart."""
        return next(self._imports_counter) & _IMPORT_MASK or next(self._imports_counter)

    def observe(self, lead_key: int, event_key: int) -> None:
        """A LeadImported read from the stream (ids as their `.int`: the projection reads
        every event back, and building UUIDs would be most of its cost)."""
        key, event = _key(lead_key), _key(event_key)
        previous = self._get(key)
        if previous is None or previous >> _IMPORT_BITS != event:
            self._set(key, event << _IMPORT_BITS | FROM_STREAM, known=previous is not None)

    def classify(self, lead_id: UUID, event_id: UUID, import_number: int) -> Classification:
        """What a row means to the system, and remember it as the lead's latest."""
        key, event = _key(lead_id.int), _key(event_id.int)
        previous = self._get(key)
        if previous is not None and previous & _IMPORT_MASK == import_number:
            return "repeated"  # an earlier row of this same import has this number
        self._set(key, event << _IMPORT_BITS | import_number, known=previous is not None)
        if previous is None:
            return "new"
        return "duplicate" if previous >> _IMPORT_BITS == event else "updated"

    def snapshot(self, lead_id: UUID) -> int | None:
        return self._get(_key(lead_id.int))

    def restore(self, lead_id: UUID, snapshot: int | None) -> None:
        """Undo `classify` for an event that was not stored, so a retry publishes it."""
        key = _key(lead_id.int)
        if snapshot is None:
            if self._get(key) is not None:
                self._size -= 1
            self._recent[key] = _FORGOTTEN
        else:
            self._set(key, snapshot, known=self._get(key) is not None)

    def knows(self, lead_id: UUID) -> bool:
        return self._get(_key(lead_id.int)) is not None

    def _get(self, key: int) -> int | None:
        value = self._recent.get(key)
        if value is not None:
            return None if value == _FORGOTTEN else value
        index = bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            return self._events[index] << _IMPORT_BITS | self._imports[index]
        return None

    def _set(self, key: int, value: int, *, known: bool) -> None:
        if not known:
            self._size += 1
        self._recent[key] = value
        if len(self._recent) >= max(self._merge_at, len(self._keys) // 4):
            self._merge()

    def _merge(self) -> None:
        # The recent keys, sorted, cut the old arrays into runs copied whole (C speed):
        # no object per lead is made, and the cost is one bisect per recent change.
        keys, events, imports = array("Q"), array("Q"), array("L")
        old_keys, old_events, old_imports = self._keys, self._events, self._imports
        copied = 0
        for key in sorted(self._recent):
            index = bisect_left(old_keys, key, copied)
            keys.extend(old_keys[copied:index])
            events.extend(old_events[copied:index])
            imports.extend(old_imports[copied:index])
            copied = index + (index < len(old_keys) and old_keys[index] == key)
            value = self._recent[key]
            if value != _FORGOTTEN:
                keys.append(key)
                events.append(value >> _IMPORT_BITS)
                imports.append(value & _IMPORT_MASK)
        keys.extend(old_keys[copied:])
        events.extend(old_events[copied:])
        imports.extend(old_imports[copied:])
        self._keys, self._events, self._imports = keys, events, imports
        self._recent = {}

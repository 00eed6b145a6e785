"""Text from outside the system (a spreadsheet cell, a model's tool argument) made fit to
quote to a model or store in an event: one line, no invisible characters, bounded.

Pure: stdlib only.
"""

from __future__ import annotations

import unicodedata

ELLIPSIS = "\u2026"


def plain_text(text: str, limit: int | None = None) -> str:
    """The text with control and format characters as spaces, whitespace runs as one space,
    and at most `limit` characters (cut ones end in an ellipsis).

    Format characters include the bidirectional overrides and zero-width spaces that make
    a reader see other words than a model reads.
    """
    visible = "".join(" " if unicodedata.category(char)[0] == "C" else char for char in text)
    flat = " ".join(visible.split())
    if limit is None or len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + ELLIPSIS

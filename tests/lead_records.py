"""Reading a prompt as a model does: the quoted lead record in it, and the rest, which is
what the prompt tells the model to do."""

from __future__ import annotations

import json
from typing import Any

LEAD_RECORD_START = "<<<LEAD RECORD>>>"
LEAD_RECORD_END = "<<<END OF LEAD RECORD>>>"


def lead_record_in(prompt: str) -> dict[str, Any]:
    """The one lead record in the prompt: the JSON line between its two marker lines."""
    lines = prompt.split("\n")
    assert (lines.count(LEAD_RECORD_START), lines.count(LEAD_RECORD_END)) == (1, 1)
    start = lines.index(LEAD_RECORD_START)
    assert lines[start + 2] == LEAD_RECORD_END, "the record is one line"
    record = json.loads(lines[start + 1])
    assert isinstance(record, dict)
    return record


def outside_the_lead_record(prompt: str) -> str:
    """The prompt without its quoted record; all of it when it quotes none."""
    lines = prompt.split("\n")
    if LEAD_RECORD_START not in lines:
        return prompt
    start = lines.index(LEAD_RECORD_START)
    if lines[start + 2 : start + 3] != [LEAD_RECORD_END]:
        return prompt
    return "\n".join(lines[: start + 1] + lines[start + 2 :])

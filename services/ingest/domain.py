"""Ingest's rules: one CSV row in, one validated lead (or the reasons it is not) out.

Pure: no I/O, no clock. Ids derive from the data, so importing the same lead twice, in
one file or in two, from one process or from two, names the same lead and the same event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from libs.events.ids import fast_uuid5, lead_id_for
from libs.events.model import LeadImported, LeadProfile
from libs.phone import InvalidPhoneNumberError, normalise_phone_number
from services.ingest.call_window import BestCallTime, read_best_call_time
from services.ingest.columns import ColumnMap
from services.ingest.vocabulary import OTHER, business_type_for, company_size_for

DEFAULT_STATUS = "pending"
REQUIRED_VALUES = ("business_name", "contact_number", "contact_name")

Severity = Literal["error", "warning"]
_content_encoder = msgspec.json.Encoder(order="deterministic")


class RowIssue(msgspec.Struct, frozen=True, kw_only=True):
    """Why a row was rejected (error) or what was kept as written (warning)."""

    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str
    message: str
    severity: Severity = "error"


class ValidLead(msgspec.Struct, frozen=True, kw_only=True):
    row: int
    lead_id: UUID
    event_id: UUID
    lead: LeadProfile
    status: str


def imported_event_id(lead_id: UUID, lead: LeadProfile, status: str) -> UUID:
    """uuid5(lead_id, "imported/" + the lead's details as JSON): the same details give
    the same event (JetStream drops the replay); changed details give a new one, so a
    corrected lead is imported again."""
    return fast_uuid5(lead_id.bytes, b"imported/" + _content_encoder.encode((lead, status)))


def validate_row(
    row: int, cells: Sequence[str], columns: ColumnMap, region: str
) -> tuple[ValidLead | None, list[RowIssue]]:
    """The lead a row describes, or None and the errors; warnings either way."""
    values = {name: _cell(cells, position) for name, position in columns.known.items()}
    issues = [
        RowIssue(row=row, column=name, message=f"{name} is empty")
        for name in REQUIRED_VALUES
        if not values[name]
    ]
    phone_number, time_zones = "", ()
    if values["contact_number"]:
        try:
            phone_number, time_zones = normalise_phone_number(values["contact_number"], region)
        except InvalidPhoneNumberError as exc:
            issues.append(RowIssue(row=row, column="contact_number", message=str(exc)))
    if issues:
        return None, issues
    attributes = {
        name: value for name, position in columns.extras if (value := _cell(cells, position))
    }
    lead, warnings = _profile(row, values, phone_number, time_zones, attributes)
    if len(cells) > columns.width and any(cell.strip() for cell in cells[columns.width :]):
        warnings.append(_extra_cells_warning(row, len(cells), columns.width))
    status = values.get("status", "").casefold() or DEFAULT_STATUS
    lead_id = lead_id_for(phone_number)
    event_id = imported_event_id(lead_id, lead, status)
    valid = ValidLead(row=row, lead_id=lead_id, event_id=event_id, lead=lead, status=status)
    return valid, warnings


def _cell(cells: Sequence[str], position: int) -> str:
    return cells[position].strip() if position < len(cells) else ""


def _profile(
    row: int,
    values: dict[str, str],
    phone_number: str,
    time_zones: tuple[str, ...],
    attributes: dict[str, str],
) -> tuple[LeadProfile, list[RowIssue]]:
    warnings: list[RowIssue] = []
    written_type = values["business_type"]
    business_type = business_type_for(written_type)
    if business_type == OTHER:
        shown = f"{written_type!r} is not" if written_type else "no business type is"
        warnings.append(_warning(row, "business_type", f"{shown} a known type; kept as Other"))
    written_size = values["company_size"]
    size = company_size_for(written_size)
    if size is None:
        message = f"{written_size!r} is not a size or an employee count; kept as unknown"
        warnings.append(_warning(row, "company_size", message))
    call_time = values["best_call_time"]
    reading = read_best_call_time(call_time)
    if call_time and (warning := _call_time_warning(row, call_time, reading)) is not None:
        warnings.append(warning)
    if not time_zones:
        message = "the number's time zone is unknown, so it cannot be called within hours"
        warnings.append(_warning(row, "contact_number", message))
    lead = LeadProfile(
        phone_number=phone_number,
        business_name=values["business_name"],
        contact_name=values["contact_name"],
        business_type=business_type,
        company_size=size or "unknown",
        current_challenges=values["current_challenges"],
        best_call_time=call_time,
        best_call_window=reading.window,
        best_call_days=reading.days,
        time_zones=time_zones,
        business_type_original="" if written_type == business_type else written_type,
        # "12 employees" becomes small: the count is kept for whoever reads the lead later.
        company_size_original="" if written_size == size else written_size,
        attributes=attributes,
    )
    return lead, warnings


def _call_time_warning(row: int, written: str, reading: BestCallTime) -> RowIssue | None:
    """Whatever part of a best call time was not understood is said, never dropped: the
    lead is still called, within what was read."""
    if not reading.understood:
        message = f"{written!r} is not a time or a day we can read; kept as written"
    elif reading.unread:
        unread = ", ".join(repr(word) for word in reading.unread)
        message = f"{written!r} was read as {reading.describe()}; not understood: {unread}"
    else:
        return None
    return _warning(row, "best_call_time", message)


def _warning(row: int, column: str, message: str) -> RowIssue:
    return RowIssue(row=row, column=column, message=message, severity="warning")


def _extra_cells_warning(row: int, cells: int, width: int) -> RowIssue:
    message = f"the row has {cells} values but the header has {width} columns; extras ignored"
    return _warning(row, "", message)


def lead_imported(valid: ValidLead, *, now: datetime, source: str) -> LeadImported:
    return LeadImported(
        event_id=valid.event_id,
        occurred_at=now,
        lead_id=valid.lead_id,
        lead=valid.lead,
        status=valid.status,
        source=source,
    )

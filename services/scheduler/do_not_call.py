"""Do-not-call lists: a CSV with a phone column, read into E.164 numbers.

Each entry goes through the same normaliser as a lead's number, so an entry written in any
form a lead upload accepts has the lead's E.164 form, and so the lead's id."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import BinaryIO

from libs.phone import InvalidPhoneNumberError, normalise_phone_number

PHONE_COLUMNS = ("phone", "phone_number", "contact_number", "number", "telephone", "mobile")


class NoPhoneColumnError(ValueError):
    def __init__(self, header: list[str]) -> None:
        super().__init__(
            f"the file has no phone column: expected one of {', '.join(PHONE_COLUMNS)}, "
            f"found {', '.join(header) or 'no header'}"
        )


@dataclass(slots=True)
class DoNotCallList:
    numbers: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row, why)


class NotTextError(ValueError):
    def __init__(self) -> None:
        super().__init__("file: not a text CSV file")


def read_do_not_call_file(spool: BinaryIO, region: str) -> DoNotCallList:
    """The list in an uploaded file, UTF-8 (with or without BOM) or Excel's cp1252."""
    spool.seek(0)
    raw = spool.read()
    if b"\0" in raw[:4096]:
        raise NotTextError()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return read_do_not_call(raw.decode(encoding), region)
        except UnicodeDecodeError:
            continue
    raise NotTextError()


def read_do_not_call(text: str, region: str) -> DoNotCallList:
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = [cell.strip().lower().replace(" ", "_") for cell in next(reader, [])]
    column = next((header.index(name) for name in PHONE_COLUMNS if name in header), None)
    if column is None:
        raise NoPhoneColumnError(header)
    result = DoNotCallList()
    seen: set[str] = set()
    for row_number, row in enumerate(reader, start=2):
        raw = row[column].strip() if column < len(row) else ""
        if not raw:
            continue
        try:
            e164, _ = normalise_phone_number(raw, region)
        except InvalidPhoneNumberError as exc:
            result.rejected.append((row_number, str(exc)))
            continue
        if e164 not in seen:
            seen.add(e164)
            result.numbers.append(e164)
    return result

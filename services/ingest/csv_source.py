"""Reading a lead CSV forgivingly and a line at a time: whatever its size, memory stays flat.

UTF-8 with or without a BOM, or Windows-1252 (what Excel writes on Windows); `,` `;`
tab or `|` delimiters, chosen by which one reads the header best; quoted fields with
newlines; CRLF. Binary files are refused before anything is imported.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from services.ingest.columns import ColumnMap, known_column_count

SNIFF_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or a zip archive"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (codecs.BOM_UTF16_LE, "UTF-16 text"),
    (codecs.BOM_UTF16_BE, "UTF-16 text"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


class NotACsvError(ValueError):
    """The file is not CSV text at all: nothing in it is imported."""


class UnreadableCsvError(ValueError):
    """The file is text, but not a lead list we can read: nothing in it is imported,
    or (found mid-file) nothing after the row named."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    number: int  # as a spreadsheet numbers it: the header is row 1
    cells: list[str]


def check_is_text(head: bytes) -> None:
    """Refuse what is plainly not CSV text, with what it looks like instead."""
    for signature, looks_like in _SIGNATURES:
        if head.startswith(signature):
            raise NotACsvError(
                f"this file is {looks_like}, not CSV text: save it as CSV (UTF-8) and upload that"
            )
    if not head.strip():
        raise UnreadableCsvError("the file is empty: expected a header row and one lead per row")
    control = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if b"\x00" in head or control > len(head) // 100:
        raise NotACsvError("this file holds binary data, not CSV text")


def decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows


class CsvSource:
    """A lead CSV on a seekable binary stream: its layout, then its rows, once or twice."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.size = stream.seek(0, 2)
        stream.seek(0)
        head = stream.read(SNIFF_BYTES)
        check_is_text(head)
        self._start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        self.bytes_read = 0
        first_line = decode_line(head[self._start :].lstrip(b"\r\n").split(b"\n", 1)[0])
        self.delimiter = max(DELIMITERS, key=lambda d: _header_fit(first_line, d))
        header = next(self._records(), None)
        if header is None:
            raise UnreadableCsvError("the file has no header row")
        self.columns = ColumnMap.from_header(header[1])

    def rows(self) -> Iterator[CsvRow]:
        """Every data row after the header, blank lines skipped; rewinds each time."""
        records = self._records()
        next(records)
        for number, cells in records:
            if any(cells):
                yield CsvRow(number, cells)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        self._stream.seek(self._start)
        self.bytes_read = self._start
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise UnreadableCsvError(f"row {number + 1} cannot be read: {exc}") from None
            number += 1
            if number == 1 and not any(cell.strip() for cell in cells):
                number = 0  # blank lines before the header
                continue
            yield number, cells

    def _lines(self) -> Iterator[str]:
        readline = self._stream.readline
        while line := readline(MAX_LINE_BYTES):
            self.bytes_read += len(line)
            if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise UnreadableCsvError("a line is longer than 1 MB: this is not a list of leads")
            yield decode_line(line)


def _header_fit(line: str, delimiter: str) -> tuple[int, int]:
    cells = next(csv.reader([line], delimiter=delimiter), [])
    return known_column_count(cells), len(cells)

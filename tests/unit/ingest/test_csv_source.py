import codecs
import io

import pytest

from services.ingest.columns import DuplicateColumnError, MissingColumnsError
from services.ingest.csv_source import CsvRow, CsvSource, NotACsvError, UnreadableCsvError

HEADER = (
    "business_name,contact_number,contact_name,business_type,company_size,"
    "current_challenges,best_call_time"
)
ROW = "Café Olé,(202) 555-0143,José Núñez,Café,small,Slow Mondays,9-11am"


def source(data: bytes) -> CsvSource:
    return CsvSource(io.BytesIO(data))


def rows(data: bytes) -> list[CsvRow]:
    return list(source(data).rows())


EXPECTED = [CsvRow(2, ROW.split(","))]


@pytest.mark.parametrize(
    "encoded",
    [
        f"{HEADER}\n{ROW}\n".encode(),
        codecs.BOM_UTF8 + f"{HEADER}\r\n{ROW}\r\n".encode(),
        f"{HEADER}\r\n{ROW}\r\n".encode("cp1252"),
        f"{HEADER}\n{ROW}".encode(),  # no final newline
    ],
    ids=["utf8", "utf8-bom-crlf", "windows-1252", "no-final-newline"],
)
def test_encodings_and_line_endings(encoded):
    assert rows(encoded) == EXPECTED


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_chosen_by_which_reads_the_header(delimiter):
    data = f"{HEADER}\n{ROW}\n".replace(",", delimiter).encode()
    parsed = source(data)
    assert (parsed.delimiter, list(parsed.rows())) == (delimiter, EXPECTED)


def test_a_semicolon_file_with_commas_inside_values_keeps_them():
    data = (
        HEADER.replace(",", ";") + "\nA, B and C;2025550143;Ann;Retail;small;x, y;9-11\n"
    ).encode()
    assert rows(data)[0].cells[0] == "A, B and C"


def test_quoted_fields_may_hold_newlines_and_rows_are_numbered_as_records():
    data = f'{HEADER}\n"Two\nLines",1,2,3,4,"a\r\nb",6\n{ROW}\n'.encode()
    assert rows(data) == [
        CsvRow(2, ["Two\nLines", "1", "2", "3", "4", "a\r\nb", "6"]),
        CsvRow(3, ROW.split(",")),
    ]


def test_blank_lines_are_skipped_but_keep_the_numbering():
    data = f"\n{HEADER}\n\n{ROW}\n,,,,,,\n{ROW}\n".encode()
    assert [row.number for row in rows(data)] == [3, 5]


def test_rows_can_be_read_twice():
    parsed = source(f"{HEADER}\n{ROW}\n".encode())
    assert list(parsed.rows()) == list(parsed.rows()) == EXPECTED


def test_header_names_match_case_and_space_insensitively_and_extras_are_kept():
    header = (
        " Business Name ,CONTACT NUMBER,contact name,Business_Type,company size,"
        "Current Challenges,best call time,Status,Region"
    )
    parsed = source(f"{header}\n{ROW}\n".encode())
    assert parsed.columns.known["status"] == 7
    assert parsed.columns.extras == (("Region", 8),)


def test_missing_columns_are_named():
    header = "business_name,contact_name,business_type,company_size,current_challenges"
    with pytest.raises(MissingColumnsError) as raised:
        source(f"{header}\nx,y,z,w,v\n".encode())
    assert raised.value.missing == ("contact_number", "best_call_time")
    assert str(raised.value).startswith("missing required columns: contact_number, best_call_time")


def test_a_column_named_twice_is_refused():
    with pytest.raises(
        DuplicateColumnError, match="the column contact_name appears more than once"
    ):
        source(f"{HEADER},Contact Name\n".encode())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", r"an Excel workbook \(\.xlsx\)"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (codecs.BOM_UTF16_LE + HEADER.encode("utf-16-le"), "UTF-16 text"),
        (bytes(range(256)) * 40, "binary data"),
    ],
)
def test_binary_files_are_refused_with_what_they_look_like(data, message):
    with pytest.raises(NotACsvError, match=message):
        source(data)


@pytest.mark.parametrize("data", [b"", b"  \r\n\r\n"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(UnreadableCsvError, match="the file is empty"):
        source(data)


def test_an_unterminated_quote_swallowing_the_file_stops_reading_with_the_row():
    body = f'{HEADER}\n{ROW}\n"never closed,' + "x" * 200_000 + "\n"
    parsed = source(body.encode())
    read = []
    with pytest.raises(
        UnreadableCsvError, match="row 3 cannot be read: field larger than field limit"
    ):
        read.extend(parsed.rows())
    assert read == EXPECTED

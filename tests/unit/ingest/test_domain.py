import ast
from datetime import time
from pathlib import Path
from uuid import UUID, uuid5

import msgspec
import pytest

from libs.events import LeadProfile, TimeWindow
from libs.events.ids import LEAD_NAMESPACE
from services.ingest.columns import REQUIRED_COLUMNS, ColumnMap
from services.ingest.domain import (
    RowIssue,
    ValidLead,
    imported_event_id,
    lead_id_for,
    validate_row,
)

HEADER = [*REQUIRED_COLUMNS, "status", "City"]
COLUMNS = ColumnMap.from_header(HEADER)
ROSA = [
    "  Rosa's Trattoria ",
    "(202) 555-0143",
    "Rosa Marino",
    "Italian restaurant",
    "small",
    "Missed reservations",
    "2pm-4pm",
    "",
    "Washington",
]


def rosa_profile(**changes: object) -> LeadProfile:
    values = {
        "phone_number": "+12025550143",
        "business_name": "Rosa's Trattoria",
        "contact_name": "Rosa Marino",
        "business_type": "Restaurant",
        "company_size": "small",
        "current_challenges": "Missed reservations",
        "best_call_time": "2pm-4pm",
        "best_call_window": TimeWindow(start=time(14), end=time(16)),
        "time_zones": ("America/New_York",),
        "business_type_original": "Italian restaurant",
        "attributes": {"City": "Washington"},
    }
    return LeadProfile(**{**values, **changes})


def test_a_valid_row_becomes_a_whole_lead_trimmed_mapped_and_with_its_extras():
    lead_id = uuid5(LEAD_NAMESPACE, "+12025550143")
    profile = rosa_profile()
    assert validate_row(2, ROSA, COLUMNS, "US") == (
        ValidLead(
            row=2,
            lead_id=lead_id,
            event_id=imported_event_id(lead_id, profile, "pending"),
            lead=profile,
            status="pending",
        ),
        [],
    )


def test_the_lead_id_depends_only_on_the_normalised_number():
    written_differently = [*ROSA]
    written_differently[1] = "+1 202.555.0143"
    first, _ = validate_row(2, ROSA, COLUMNS, "US")
    second, _ = validate_row(9, written_differently, COLUMNS, "US")
    assert first is not None and second is not None
    assert first.lead_id == second.lead_id == lead_id_for("+12025550143")
    assert first.event_id == second.event_id  # same details: the same event


def test_changed_details_give_the_same_lead_a_new_event():
    changed = [*ROSA]
    changed[2] = "Rosa Marino-Bellini"
    first, _ = validate_row(2, ROSA, COLUMNS, "US")
    second, _ = validate_row(2, changed, COLUMNS, "US")
    assert first is not None and second is not None
    assert (first.lead_id, first.event_id != second.event_id) == (second.lead_id, True)


def test_ids_are_the_documented_uuid5s():
    lead, _ = validate_row(2, ROSA, COLUMNS, "US")
    assert lead is not None
    content = msgspec.json.encode((lead.lead, lead.status), order="deterministic").decode()
    assert lead.lead_id == uuid5(LEAD_NAMESPACE, "+12025550143")
    assert lead.event_id == uuid5(lead.lead_id, f"imported/{content}")


def test_ids_are_stable_across_releases():
    # Changing these would re-import every lead under a new id: they are part of the contract.
    assert lead_id_for("+12025550143") == UUID("bf9ed617-094b-57c0-b955-587f9d3c255a")


@pytest.mark.parametrize(
    ("position", "value", "issue"),
    [
        (0, "  ", RowIssue(row=7, column="business_name", message="business_name is empty")),
        (2, "", RowIssue(row=7, column="contact_name", message="contact_name is empty")),
        (1, "", RowIssue(row=7, column="contact_number", message="contact_number is empty")),
        (
            1,
            "555-0143",
            RowIssue(
                row=7,
                column="contact_number",
                message="'555-0143' is not a valid phone number (the area code is missing)",
            ),
        ),
    ],
)
def test_a_row_missing_a_required_value_or_with_an_invalid_number_is_rejected(
    position, value, issue
):
    row = [*ROSA]
    row[position] = value
    assert validate_row(7, row, COLUMNS, "US") == (None, [issue])


def test_every_error_of_a_row_is_reported_at_once():
    row = ["", "12", "", *ROSA[3:]]
    valid, issues = validate_row(4, row, COLUMNS, "US")
    assert valid is None
    assert [(issue.column, issue.severity) for issue in issues] == [
        ("business_name", "error"),
        ("contact_name", "error"),
        ("contact_number", "error"),
    ]


def test_what_cannot_be_understood_is_kept_as_written_with_warnings():
    row = [*ROSA]
    row[3:7] = ["Pet grooming", "huge", "", "whenever suits"]
    valid, issues = validate_row(3, row, COLUMNS, "US")
    assert valid is not None
    assert valid.lead == rosa_profile(
        business_type="Other",
        business_type_original="Pet grooming",
        company_size="unknown",
        company_size_original="huge",
        current_challenges="",
        best_call_time="whenever suits",
        best_call_window=None,
    )
    assert issues == [
        RowIssue(
            row=3,
            column="business_type",
            message="'Pet grooming' is not a known type; kept as Other",
            severity="warning",
        ),
        RowIssue(
            row=3,
            column="company_size",
            message="'huge' is not a size or an employee count; kept as unknown",
            severity="warning",
        ),
        RowIssue(
            row=3,
            column="best_call_time",
            message="'whenever suits' is not a time or a day we can read; kept as written",
            severity="warning",
        ),
    ]


def test_a_known_business_type_written_exactly_keeps_no_original():
    row = [*ROSA]
    row[3] = "Restaurant"
    valid, _ = validate_row(2, row, COLUMNS, "US")
    assert valid is not None
    assert (valid.lead.business_type, valid.lead.business_type_original) == ("Restaurant", "")


@pytest.mark.parametrize(
    ("written", "size", "original"),
    [
        ("12 employees", "small", "12 employees"),
        ("50-200", "medium", "50-200"),
        ("Enterprise", "large", "Enterprise"),
        ("medium", "medium", ""),
        ("", "unknown", ""),
    ],
)
def test_a_company_size_mapped_to_a_category_keeps_the_uploaded_text(written, size, original):
    row = [*ROSA]
    row[4] = written
    valid, issues = validate_row(2, row, COLUMNS, "US")
    assert valid is not None and issues == []
    assert (valid.lead.company_size, valid.lead.company_size_original) == (size, original)


@pytest.mark.parametrize(
    ("written", "days", "window"),
    [
        ("Tue/Thu 2-4pm", (1, 3), TimeWindow(start=time(14), end=time(16))),
        ("Mon-Fri 9am-12pm", (0, 1, 2, 3, 4), TimeWindow(start=time(9), end=time(12))),
        ("weekdays after 3pm", (0, 1, 2, 3, 4), TimeWindow(start=time(15), end=time(17))),
        ("Tuesday 10-11", (1,), TimeWindow(start=time(10), end=time(11))),
        ("Tuesdays", (1,), None),  # a day alone is understood: any hour the rules allow
    ],
)
def test_the_days_in_a_best_call_time_go_on_the_lead_with_its_window(written, days, window):
    row = [*ROSA]
    row[6] = written
    valid, issues = validate_row(2, row, COLUMNS, "US")
    assert valid is not None and issues == []
    assert valid.lead == rosa_profile(
        best_call_time=written, best_call_window=window, best_call_days=days
    )


def test_a_best_call_time_read_only_in_part_says_what_was_read_and_what_was_not():
    row = [*ROSA]
    row[6] = "Tue/Thu 2-4pm PST, 1st week"
    valid, issues = validate_row(6, row, COLUMNS, "US")
    assert valid is not None
    assert (valid.lead.best_call_days, valid.lead.best_call_window) == (
        (1, 3),
        TimeWindow(start=time(14), end=time(16)),
    )
    assert issues == [
        RowIssue(
            row=6,
            column="best_call_time",
            message="'Tue/Thu 2-4pm PST, 1st week' was read as 14:00-16:00 on Tue, Thu; "
            "not understood: 'PST', '1st', 'week'",
            severity="warning",
        )
    ]


def test_status_defaults_to_pending_and_is_kept_otherwise():
    row = [*ROSA]
    row[7] = " Called "
    valid, _ = validate_row(2, row, COLUMNS, "US")
    assert valid is not None and valid.status == "called"


def test_a_row_longer_than_the_header_is_imported_with_a_warning():
    valid, issues = validate_row(5, [*ROSA, "stray"], COLUMNS, "US")
    assert valid is not None
    assert issues == [
        RowIssue(
            row=5,
            column="",
            message="the row has 10 values but the header has 9 columns; extras ignored",
            severity="warning",
        )
    ]


def test_a_short_row_reads_its_missing_cells_as_empty():
    valid, issues = validate_row(5, ROSA[:7], COLUMNS, "US")
    assert valid is not None
    assert (valid.lead.attributes, valid.status, issues) == ({}, "pending", [])


PURE_MODULES = ["domain", "vocabulary", "call_window", "columns", "registry", "report"]
ALLOWED = ("msgspec", "phonenumbers", "libs.events", "libs.phone", "services.ingest.")


@pytest.mark.parametrize("module", PURE_MODULES)
def test_the_domain_imports_only_the_stdlib_msgspec_phonenumbers_and_the_events(module):
    import sys

    source = Path(__file__).parents[3] / "services" / "ingest" / f"{module}.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    foreign = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith(ALLOWED)
        and name not in ("msgspec", "phonenumbers")
    }
    assert foreign == set()
    pure_siblings = {f"services.ingest.{m}" for m in PURE_MODULES}
    assert {n for n in imported if n.startswith("services.ingest.")} <= pure_siblings

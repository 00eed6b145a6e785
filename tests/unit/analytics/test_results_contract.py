"""The original results file's definition, as the checker reads it."""

from __future__ import annotations

import csv
import io

from services.analytics.results_contract import ORIGINAL_COLUMNS, contract_violations

GOOD = {
    "business_name": "Rosa's Trattoria",
    "contact_number": "+12025550101",
    "contact_name": "Rosa",
    "business_type": "Italian restaurant",
    "company_size": "12 employees",
    "current_challenges": "",
    "best_call_time": "2pm-4pm",
    "status": "called",
    "call_status": "answered",
    "call_date": "2026-03-02T15:00:00Z",
    "conversation_summary": "Wants a demo",
    "interest_level": "high",
    "scheduled_meeting": "true",
    "next_steps": "Send the invite",
}


def results(*rows: dict[str, str], extra: tuple[str, ...] = ("attempts",)) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*ORIGINAL_COLUMNS, *extra], restval="1")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


NEVER_CALLED = GOOD | {
    "status": "pending",
    "call_status": "",
    "call_date": "",
    "interest_level": "",
    "scheduled_meeting": "",
}


def test_a_file_that_keeps_the_definition_passes():
    assert contract_violations(results(GOOD, NEVER_CALLED)) == []
    assert contract_violations("\ufeff" + results(GOOD)) == []  # as Excel saves it


def test_each_departure_is_named_by_row_and_column():
    text = results(
        GOOD | {"call_status": "voicemail", "contact_number": "'+12025550101"},
        GOOD | {"scheduled_meeting": "yes", "interest_level": "warm", "call_date": "Monday"},
    )
    assert contract_violations(text) == [
        'row 2 contact_number: "\'+12025550101" is not an E.164 number (+ and 8-15 digits, '
        "no quote)",
        "row 2 call_status: 'voicemail' is not one of answered, failed, timeout or empty",
        "row 3 call_date: 'Monday' is not an ISO date-time or empty",
        "row 3 interest_level: 'warm' is not one of high, medium, low or empty",
        "row 3 scheduled_meeting: 'yes' is not one of true, false or empty",
    ]


def test_columns_out_of_the_original_order_are_refused_whole():
    swapped = ["contact_number", "business_name", *ORIGINAL_COLUMNS[2:]]
    text = ",".join(swapped) + "\r\n"
    [problem] = contract_violations(text)
    assert problem.startswith("the first 14 columns are ['contact_number', 'business_name'")
    assert contract_violations("") == ["the file is empty: no header row"]

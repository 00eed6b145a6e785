"""A do-not-call entry names the same lead as the upload it should block, in any form."""

from __future__ import annotations

import pytest

from libs.compliance import ComplianceFacts
from libs.events import LeadOptedOut, lead_id_for
from services.ingest.columns import REQUIRED_COLUMNS, ColumnMap
from services.ingest.domain import validate_row
from services.scheduler.do_not_call import read_do_not_call
from tests.factories import NOW

# Every form a lead upload accepts for one Washington number.
FORMS = (
    "+12025550143",
    "+1 202 555 0143",
    "+1 (202) 555-0143",
    "(202) 555-0143",
    "202.555.0143",
    "202-555-0143",
    "1-202-555-0143",
    "12025550143",
    "2025550143",
    " 202 555 0143 ",
)


def imported_lead_id(number: str):
    cells = ["Rosa's Trattoria", number, "Rosa", "Restaurant", "small", "", ""]
    lead, issues = validate_row(2, cells, ColumnMap.from_header(list(REQUIRED_COLUMNS)), "US")
    assert lead is not None, issues
    return lead.lead_id


@pytest.mark.parametrize("entry", FORMS)
def test_a_do_not_call_entry_in_any_accepted_form_blocks_its_lead(entry):
    [number] = read_do_not_call(f"phone\n{entry}\n", "US").numbers
    facts = ComplianceFacts()
    facts.apply(
        LeadOptedOut(
            event_id=lead_id_for(number),
            occurred_at=NOW,
            lead_id=lead_id_for(number),
            phone_number=number,
            source="do-not-call-list",
        )
    )
    for form in FORMS:  # however the lead itself was written in its upload
        assert facts.blocked.get(imported_lead_id(form)) == "do_not_call"


def test_an_entry_the_lead_upload_would_reject_is_rejected_with_the_same_reason():
    listed = read_do_not_call("phone\n202555014\n+1 202 555 0143\n12\n", "US")
    assert listed.numbers == ["+12025550143"]
    assert listed.rejected == [
        (2, "'202555014' is not a valid phone number (too few digits)"),
        (4, "'12' is not a valid phone number (too few digits)"),
    ]


def test_an_opt_out_recorded_under_another_id_still_blocks_the_number():
    facts = ComplianceFacts()
    facts.apply(
        LeadOptedOut(
            event_id=lead_id_for("an earlier list"),
            occurred_at=NOW,
            lead_id=lead_id_for("not the lead's id"),  # as lists from earlier builds were
            phone_number="+12025550143",
            source="do-not-call-list",
        )
    )
    assert facts.blocked.get(imported_lead_id("(202) 555-0143")) == "do_not_call"

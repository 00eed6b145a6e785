"""POST /leads/upload over real HTTP, checked against the LeadImported events on nats."""

from datetime import time
from pathlib import Path

import pytest

from libs.events import LeadImported, LeadProfile, TimeWindow
from services.ingest.domain import imported_event_id, lead_id_for
from tests.integration.ingest.support import (
    CSV,
    HEADER,
    csv_body,
    imported_events,
    lead_row,
    serving,
    stream_messages,
)

TEMPLATE_FILE = Path(__file__).parents[3] / "data" / "templates" / "leads_template.csv"
ROSA = (
    "Rosa's Trattoria,(202) 555-0143,Rosa Marino,Italian restaurant,small,"
    '"Missed reservations, every Friday",2pm-4pm,'
)


async def test_a_csv_body_is_imported_and_the_report_names_each_bad_row(bus, tmp_path):
    body = csv_body(
        ROSA,
        lead_row(1, business_name=""),
        lead_row(2, contact_number="555-0102"),
        lead_row(3, business_type="Pet grooming", best_call_time="whenever"),
    )
    async with serving(bus, tmp_path) as client:
        response = await client.post("/leads/upload", content=body, headers=CSV)
    assert response.status_code == 200
    report = response.json()
    assert report["counts"] == {
        "received": 4,
        "imported": 2,
        "updated": 0,
        "duplicate": 0,
        "rejected": 2,
        "warnings": 1,
    }
    assert report["issues"] == [
        {
            "row": 3,
            "column": "business_name",
            "message": "business_name is empty",
            "severity": "error",
        },
        {
            "row": 4,
            "column": "contact_number",
            "message": "'555-0102' is not a valid phone number (the area code is missing)",
            "severity": "error",
        },
        {
            "row": 5,
            "column": "business_type",
            "message": "'Pet grooming' is not a known type; kept as Other",
            "severity": "warning",
        },
        {
            "row": 5,
            "column": "best_call_time",
            "message": "'whenever' is not a time or a day we can read; kept as written",
            "severity": "warning",
        },
    ]
    assert report["complete"] is True
    rosa, pet_groomer = await imported_events(bus)
    lead = LeadProfile(
        phone_number="+12025550143",
        business_name="Rosa's Trattoria",
        contact_name="Rosa Marino",
        business_type="Restaurant",
        company_size="small",
        current_challenges="Missed reservations, every Friday",
        best_call_time="2pm-4pm",
        best_call_window=TimeWindow(start=time(14), end=time(16)),
        time_zones=("America/New_York",),
        business_type_original="Italian restaurant",
    )
    lead_id = lead_id_for("+12025550143")
    assert rosa == LeadImported(
        event_id=imported_event_id(lead_id, lead, "pending"),
        occurred_at=rosa.occurred_at,
        lead_id=lead_id,
        lead=lead,
        status="pending",
        source="upload.csv",
    )
    assert (pet_groomer.lead.business_type, pet_groomer.lead.business_type_original) == (
        "Other",
        "Pet grooming",
    )


async def test_days_and_the_uploaded_size_reach_the_lead_and_unread_times_the_report(bus, tmp_path):
    body = csv_body(
        lead_row(1, company_size="12 employees", best_call_time="Tue/Thu 2-4pm"),
        lead_row(2, company_size="small", best_call_time="weekdays after 3pm"),
        lead_row(3, best_call_time="call me maybe"),
        lead_row(4, best_call_time='"Fridays, 2-4pm EST"'),  # quoted: it holds a comma
    )
    async with serving(bus, tmp_path) as client:
        response = await client.post("/leads/upload", content=body, headers=CSV)
    report = response.json()
    assert (report["counts"]["imported"], report["counts"]["warnings"]) == (4, 2)
    assert report["issues"] == [
        {
            "row": 4,
            "column": "best_call_time",
            "message": "'call me maybe' is not a time or a day we can read; kept as written",
            "severity": "warning",
        },
        {
            "row": 5,
            "column": "best_call_time",
            "message": "'Fridays, 2-4pm EST' was read as 14:00-16:00 on Fri; not understood: 'EST'",
            "severity": "warning",
        },
    ]
    leads = [event.lead for event in await imported_events(bus)]
    assert [(lead.best_call_days, lead.best_call_window) for lead in leads] == [
        ((1, 3), TimeWindow(start=time(14), end=time(16))),
        ((0, 1, 2, 3, 4), TimeWindow(start=time(15), end=time(17))),
        ((), None),
        ((4,), TimeWindow(start=time(14), end=time(16))),
    ]
    assert [(lead.company_size, lead.company_size_original) for lead in leads[:2]] == [
        ("small", "12 employees"),
        ("small", ""),
    ]
    assert leads[2].best_call_time == "call me maybe"  # kept as written


async def test_a_multipart_upload_names_the_source_after_the_file(bus, tmp_path):
    files = {"file": ("C:\\Users\\sam\\spring leads.csv", csv_body(ROSA), "text/csv")}
    async with serving(bus, tmp_path) as client:
        response = await client.post("/leads/upload", files=files, data={"note": "spring"})
    assert (response.status_code, response.json()["counts"]["imported"]) == (200, 1)
    [event] = await imported_events(bus)
    assert event.source == "spring leads.csv"


async def test_headers_match_loosely_and_extra_columns_become_attributes(bus, tmp_path):
    header = (
        " Business Name ;CONTACT NUMBER;Contact name;business type;Company Size;"
        "current challenges;Best Call Time;City;Owner email\r\n"
    )
    row = "Peak Gym;303-555-0127;Jenna;Gym;12 employees;Churn;afternoons;Denver, CO;j@peak.example"
    async with serving(bus, tmp_path) as client:
        response = await client.post(
            "/leads/upload", content=csv_body(row, header=header), headers=CSV
        )
    assert response.json()["counts"]["imported"] == 1
    [event] = await imported_events(bus)
    assert event.lead.attributes == {"City": "Denver, CO", "Owner email": "j@peak.example"}
    assert (event.lead.business_type, event.lead.company_size) == ("Fitness & Wellness", "small")
    assert event.lead.best_call_window == TimeWindow(start=time(12), end=time(17))
    assert event.lead.time_zones == ("America/Denver",)


async def test_missing_required_columns_reject_the_whole_file_naming_them(bus, tmp_path):
    header = "business_name,contact_name,business_type,company_size,current_challenges\r\n"
    body = csv_body("Rosa's,Rosa,Restaurant,small,none", header=header)
    async with serving(bus, tmp_path) as client:
        response = await client.post("/leads/upload", content=body, headers=CSV)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "missing required columns: contact_number, best_call_time (the header row has: "
        "'business_name', 'contact_name', 'business_type', 'company_size', 'current_challenges')"
    )
    assert await stream_messages(bus) == 0


async def test_strict_imports_nothing_when_any_row_is_bad(bus, tmp_path):
    body = csv_body(lead_row(1), lead_row(2, contact_name=""), lead_row(3))
    async with serving(bus, tmp_path) as client:
        refused = await client.post("/leads/upload?strict=true", content=body, headers=CSV)
        relaxed = await client.post("/leads/upload", content=body, headers=CSV)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["detail"].startswith("Strict import: nothing was imported")
    assert problem["report"]["counts"] == {
        "received": 3,
        "imported": 0,
        "updated": 0,
        "duplicate": 0,
        "rejected": 1,
        "warnings": 0,
    }
    assert problem["report"]["issues"][0]["row"] == 3
    assert relaxed.json()["counts"]["imported"] == 2
    assert await stream_messages(bus) == 2  # all of them from the relaxed upload


async def test_strict_imports_a_clean_file(bus, tmp_path):
    async with serving(bus, tmp_path) as client:
        response = await client.post(
            "/leads/upload", params={"strict": "true"}, content=csv_body(lead_row(1)), headers=CSV
        )
    assert (response.status_code, response.json()["counts"]["imported"]) == (200, 1)


async def test_the_template_route_serves_the_template_file(bus, tmp_path):
    async with serving(bus, tmp_path) as client:
        response = await client.get("/leads/template")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[0] == HEADER.strip()
    assert response.content == TEMPLATE_FILE.read_bytes()


@pytest.mark.parametrize("strict", [False, True])
async def test_an_uploaded_template_imports_its_examples(bus, tmp_path, strict):
    async with serving(bus, tmp_path) as client:
        template = (await client.get("/leads/template")).content
        response = await client.post(
            "/leads/upload", params={"strict": str(strict).lower()}, content=template, headers=CSV
        )
    assert response.json()["counts"]["imported"] == 2

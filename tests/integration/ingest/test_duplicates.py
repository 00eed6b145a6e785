"""One number is one lead: within a file, across uploads, across restarts."""

from datetime import UTC, datetime

import pytest

from services.ingest.columns import ColumnMap
from services.ingest.domain import lead_imported, validate_row
from tests.integration.ingest.support import (
    CSV,
    HEADER,
    csv_body,
    imported_events,
    lead_row,
    serving,
    stream_messages,
)


async def upload(client, body: bytes) -> dict:
    response = await client.post("/leads/upload", content=body, headers=CSV)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_number_repeated_in_one_file_is_one_lead_and_the_first_row_wins(bus, tmp_path):
    body = csv_body(
        lead_row(1),
        lead_row(1, contact_number="+1 202 555 0101", contact_name="Someone Else"),
        lead_row(2),
    )
    async with serving(bus, tmp_path) as client:
        report = await upload(client, body)
    assert (report["counts"]["imported"], report["counts"]["duplicate"]) == (2, 1)
    assert report["issues"] == [
        {
            "row": 3,
            "column": "contact_number",
            "message": "the same number as an earlier row of this file; the earlier row was kept",
            "severity": "warning",
        }
    ]
    events = await imported_events(bus)
    assert [event.lead.contact_name for event in events] == ["Contact 1", "Contact 2"]


async def test_uploading_the_same_file_again_imports_nothing_new(bus, tmp_path):
    body = csv_body(*(lead_row(index) for index in range(10)))
    async with serving(bus, tmp_path) as client:
        first = await upload(client, body)
        second = await upload(client, body)
    assert (first["counts"]["imported"], first["counts"]["duplicate"]) == (10, 0)
    assert (second["counts"]["imported"], second["counts"]["duplicate"]) == (0, 10)
    assert await stream_messages(bus) == 10


async def test_after_a_restart_known_leads_are_still_duplicates(bus, tmp_path, log_watch):
    body = csv_body(*(lead_row(index) for index in range(5)))
    async with serving(bus, tmp_path) as client:
        await upload(client, body)
    log_watch.records.clear()
    # A new process knows them from the stream, so it does not even publish them: this
    # holds long after JetStream's duplicate window has forgotten their ids.
    async with serving(bus, tmp_path) as client:
        again = await upload(client, csv_body(*(lead_row(index) for index in range(6))))
    rebuilt = await log_watch.wait_for(lambda r: "Known leads read" in r["message"])
    assert rebuilt["message"] == "Known leads read from the stream: 5"
    assert (again["counts"]["imported"], again["counts"]["duplicate"]) == (1, 5)
    assert await stream_messages(bus) == 6


async def test_a_lead_whose_details_changed_is_imported_again_as_an_update(bus, tmp_path):
    async with serving(bus, tmp_path) as client:
        await upload(client, csv_body(lead_row(1), lead_row(2)))
    async with serving(bus, tmp_path) as client:
        report = await upload(client, csv_body(lead_row(1, contact_name="Dana New"), lead_row(2)))
    assert report["counts"] == {
        "received": 2,
        "imported": 0,
        "updated": 1,
        "duplicate": 1,
        "rejected": 0,
        "warnings": 0,
    }
    first, second, update = await imported_events(bus)
    assert update.lead_id == first.lead_id != second.lead_id
    assert (update.lead.contact_name, update.event_id != first.event_id) == ("Dana New", True)


@pytest.mark.parametrize("validated_in", ["this process", "a validation process"])
async def test_a_large_file_streams_through_many_chunks_without_losing_a_row(
    bus, tmp_path, validated_in
):
    rows = [
        lead_row(index, area_code=area) for area in (202, 312, 415, 303) for index in range(100)
    ]
    bad = lead_row(7, contact_number="12")
    body = csv_body(*rows, bad, *rows[:50])  # the repeats land in later chunks
    environ = {"PUBLISH_CHUNK_ROWS": "37"}
    if validated_in == "a validation process":
        environ |= {"VALIDATION_PROCESSES": "1", "PARALLEL_MIN_MB": "0"}
    async with serving(bus, tmp_path, environ) as client:
        report = await upload(client, body)
    counts = report["counts"]
    assert (counts["received"], counts["rejected"]) == (451, 1)
    assert (counts["imported"], counts["duplicate"]) == (400, 50)
    assert report["issues"][0] == {
        "row": 402,
        "column": "contact_number",
        "message": "'12' is not a valid phone number (too few digits)",
        "severity": "error",
    }
    events = await imported_events(bus)
    assert len({event.lead_id for event in events}) == len(events) == 400


async def test_leads_another_process_imported_meanwhile_are_known_at_the_next_import(bus, tmp_path):
    async with serving(bus, tmp_path) as client:
        await upload(client, csv_body(lead_row(1)))
        # Another ingest process imports lead 2 while this one is idle.
        columns = ColumnMap.from_header(HEADER.strip().split(","))
        valid, _ = validate_row(2, lead_row(2).split(","), columns, "US")
        assert valid is not None
        await bus.publish(lead_imported(valid, now=datetime.now(UTC), source="elsewhere.csv"))
        report = await upload(client, csv_body(lead_row(2, contact_name="Changed Here")))
    assert (report["counts"]["imported"], report["counts"]["updated"]) == (0, 1)


async def test_the_api_documents_the_upload_and_template_routes(bus, tmp_path):
    async with serving(bus, tmp_path) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    upload_doc = schema["paths"]["/leads/upload"]["post"]
    assert upload_doc["summary"] == "Import leads from a CSV file"
    assert [p["name"] for p in upload_doc["parameters"]] == ["strict"]
    assert "/leads/template" in schema["paths"]

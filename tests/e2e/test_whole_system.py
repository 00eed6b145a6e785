"""The whole system on the sample leads: as five processes, and as one; the same results.

The five connect as the deployment does, each as its own NATS user with the permissions
of deploy/nats/permissions.conf, and the server refuses not one thing they ask."""

from __future__ import annotations

import csv

import httpx

from tests.e2e.support import SAMPLE, five_processes, one_process, run_sample_campaign
from tests.nats_users import made_up_passwords, server_with_users, violations

OUTCOME_COLUMNS = ("contact_number", "call_status", "interest_level", "scheduled_meeting")


def sample_numbers() -> int:
    with SAMPLE.open() as file:
        return sum(1 for _ in csv.DictReader(file))


def accounted_for(rows: list[dict[str, str]], campaign: dict) -> None:
    """Every lead in the file is called with a recorded outcome, or excluded with a reason."""
    assert len(rows) == sample_numbers() - campaign_rejected(rows)
    called = [row for row in rows if row["call_status"] not in ("", "pending", "excluded")]
    assert len(called) == campaign["selected"]
    for row in called:
        assert row["call_status"], row
        if row["call_status"] == "completed":
            assert row["interest_level"] in ("high", "medium", "low"), row
            assert row["conversation_summary"], row
    assert sum(campaign["excluded"].values()) == len(rows) - len(called)


def campaign_rejected(rows: list[dict[str, str]]) -> int:
    return 0  # every sample row is a valid lead


def outcomes(rows: list[dict[str, str]]) -> set[tuple[str, ...]]:
    return {tuple(row[column] for column in OUTCOME_COLUMNS) for row in rows}


async def test_five_processes_and_one_process_account_for_every_lead_alike(tmp_path, log_watch):
    for folder in ("five", "one"):
        (tmp_path / folder).mkdir()
    passwords = made_up_passwords()
    async with (
        server_with_users(tmp_path / "nats", passwords) as nats,
        five_processes(nats.url, tmp_path / "five", passwords) as system,
    ):
        campaign, rows, statistics = await run_sample_campaign(system)
        async with httpx.AsyncClient(base_url=system.url("analytics"), timeout=30) as client:
            [listed] = (await client.get("/calls", params={"limit": "1"})).json()["calls"]
            detail = (await client.get(f"/calls/{listed['call_id']}")).json()
    accounted_for(rows, campaign)
    totals = statistics["totals"]
    assert totals["leads"] == len(rows)
    # Outcomes and opt-outs are conversation's to record, the campaign's end the scheduler's.
    assert totals["meetings_booked"] > 0 and totals["opt_outs"] > 0, totals
    assert detail["events"], detail  # the stream's history of a call, read as analytics
    assert violations(log_watch.records) == []

    async with one_process(tmp_path / "one") as system:
        campaign_alone, rows_alone, statistics_alone = await run_sample_campaign(system)
    accounted_for(rows_alone, campaign_alone)
    assert outcomes(rows_alone) == outcomes(rows)
    assert statistics_alone["totals"]["meetings_booked"] == statistics["totals"]["meetings_booked"]

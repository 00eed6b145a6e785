"""The whole system on the sample leads: as five processes, and as one; the same results."""

from __future__ import annotations

import csv

from libs.bus import EmbeddedNatsServer
from tests.e2e.support import SAMPLE, five_processes, one_process, run_sample_campaign

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


async def test_five_processes_and_one_process_account_for_every_lead_alike(tmp_path):
    for folder in ("five", "one"):
        (tmp_path / folder).mkdir()
    async with (
        EmbeddedNatsServer(tmp_path / "nats") as nats,
        five_processes(nats.url, tmp_path / "five") as system,
    ):
        campaign, rows, statistics = await run_sample_campaign(system)
    accounted_for(rows, campaign)
    assert statistics["totals"]["leads"] == len(rows)

    async with one_process(tmp_path / "one") as system:
        campaign_alone, rows_alone, statistics_alone = await run_sample_campaign(system)
    accounted_for(rows_alone, campaign_alone)
    assert outcomes(rows_alone) == outcomes(rows)
    assert statistics_alone["totals"]["meetings_booked"] == statistics["totals"]["meetings_booked"]

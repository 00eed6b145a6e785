"""The five services as separate processes, each connected as its own NATS user with the
deployment's permissions (deploy/nats/permissions.conf): a whole campaign, and not one
request the server had to refuse."""

from __future__ import annotations

import httpx

from tests.e2e.support import five_processes, run_sample_campaign
from tests.nats_users import made_up_passwords, server_with_users, violations


async def test_a_campaign_runs_to_its_end_with_every_service_confined_to_its_user(
    tmp_path, log_watch
):
    passwords = made_up_passwords()
    async with (
        server_with_users(tmp_path / "nats", passwords) as nats,
        five_processes(nats.url, tmp_path, passwords) as system,
    ):
        campaign, rows, statistics = await run_sample_campaign(system)
        async with httpx.AsyncClient(base_url=system.url("analytics"), timeout=30) as client:
            [listed] = (await client.get("/calls", params={"limit": "1"})).json()["calls"]
            detail = (await client.get(f"/calls/{listed['call_id']}")).json()
    totals = statistics["totals"]
    by_status = totals["leads_by_status"]
    assert by_status.get("called", 0) + by_status.get("opted_out", 0) == campaign["selected"]
    # Outcomes and opt-outs are conversation's to record, the campaign's end the scheduler's.
    assert totals["meetings_booked"] > 0 and totals["opt_outs"] > 0, totals
    assert len(rows) == totals["leads"]
    assert detail["events"], detail  # the stream's history of a call, read as analytics
    assert violations(log_watch.records) == []

"""Rebuild by replay: the same tables as incremental projection, swapped in atomically."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from libs.bus import EmbeddedNatsServer, EventBus
from libs.events import encode_event
from services.analytics.rebuild import rebuild
from services.analytics.store import sibling
from tests.integration.analytics.histories import realistic_events
from tests.integration.analytics.support import projecting, publish, settings_for, table_contents

ROOT = Path(__file__).parents[3]


async def published_history(bus: EventBus) -> int:
    """A realistic history with duplicates past JetStream's window mixed in."""
    events = realistic_events(1500, campaign_size=60)
    last = await publish(bus, events)
    for event in events[100:400:3]:
        ack = await bus.js.publish(event.subject, encode_event(event))
        last = ack.seq
    return last


async def test_a_rebuild_equals_the_incremental_projection_table_by_table(bus: EventBus, tmp_path):
    last = await published_history(bus)
    # Small batches: many batch boundaries, where a merge rule could go wrong.
    incremental = settings_for(tmp_path / "live", analytics_batch_size=37)
    async with projecting(bus, incremental) as (_, projector):
        await projector.wait_for(last)
    expected = table_contents(incremental.duckdb_file)

    target = tmp_path / "rebuilt" / "analytics.duckdb"
    target.parent.mkdir()
    seen: list[tuple[int, int]] = []
    report = await rebuild(
        bus, target, target.parent / "results.csv", lambda done, total: seen.append((done, total))
    )
    assert (report.last_sequence, report.handed_over) == (last, False)
    assert seen[-1] == (last, last)  # the progress bar reached its end
    rebuilt = table_contents(target)
    assert rebuilt.keys() == expected.keys()
    for table in expected:
        assert rebuilt[table] == expected[table], table
    assert (target.parent / "results.csv").read_bytes() == incremental.results_csv_file.read_bytes()


async def test_a_running_service_serves_the_old_file_until_it_swaps_the_rebuild_in(
    bus: EventBus, tmp_path, log_watch
):
    settings = settings_for(tmp_path)
    events = realistic_events(600, campaign_size=40)
    first_part, second_part = events[:400], events[400:]
    middle = await publish(bus, first_part)
    async with projecting(bus, settings) as (workers, projector):
        await projector.wait_for(middle)
        live_inode = settings.duckdb_file.stat().st_ino
        report = await rebuild(bus, settings.duckdb_file, settings.results_csv_file, print)
        assert report.handed_over  # the service holds the writer lock: it was handed over
        assert sibling(settings.duckdb_file, ".next").exists()
        await log_watch.wait_for(lambda r: "Swapped in the rebuilt projection" in r["message"])
        assert settings.duckdb_file.stat().st_ino != live_inode
        last = await publish(bus, second_part)  # the service goes on from the new file
        await projector.wait_for(last)
        async with workers.store.reader() as cursor:
            leads = cursor.execute("SELECT count(*) FROM leads").fetchone()
    reference = settings_for(tmp_path / "reference", analytics_durable="reference")
    async with projecting(bus, reference) as (_, reference_projector):
        await reference_projector.wait_for(last)
    assert table_contents(settings.duckdb_file) == table_contents(reference.duckdb_file)
    assert leads == (len({e.lead_id for e in events if type(e).__name__ == "LeadImported"}),)


async def test_the_rebuild_command_shows_progress_and_swaps_the_file_in(
    bus: EventBus, nats_server: EmbeddedNatsServer, tmp_path
):
    last = await publish(bus, realistic_events(300, campaign_size=20))
    environment = {
        **{k: v for k, v in os.environ.items() if k != "API_TOKEN"},
        "NATS_URL": nats_server.url,
        "DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "120",
    }
    stale = tmp_path / "analytics.duckdb"
    shutil.copyfile(Path(__file__), stale)  # whatever was there is replaced whole
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.analytics",
        "rebuild",
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    output = stderr.decode()
    assert process.returncode == 0, output
    assert "Replaying the stream" in output
    assert f"{last}/{last}" in output
    assert f"Swapped in {stale}" in output
    assert table_contents(stale)["projection_position"] == [(1, last)]
    assert (tmp_path / "results.csv").read_text().startswith("business_name,contact_number")
